"""Hugging Face ``PreTrainedModel`` attention layers: the eager implementation and
``output_attentions`` switched on for the pass, the model's configuration restored after it."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from lightning_xai.capture.adapters.base import AttentionAdapter, Record

__all__ = ["HuggingFaceAdapter"]


class HuggingFaceAdapter(AttentionAdapter):
    """The layers a ``PreTrainedModel`` records as ``attentions`` (its ``_can_record_outputs``;
    before transformers 5: modules whose class name ends in ``SelfAttention``).

    Only the ``"eager"`` implementation forms the weights: for the pass every configuration in
    the model is switched to it with ``output_attentions=True`` (what ``output_attentions=True``
    asks of a model loaded with ``attn_implementation="eager"``); a forward hook reads each
    layer's weights from its output. ``_attn_implementation`` and ``output_attentions`` of every
    configuration are restored afterwards, even on error. The eager kernel computes the same
    function as SDPA (equal to float rounding).
    """

    name = "Hugging Face"

    def owns(self, module: nn.Module) -> bool:
        return False  # found through the PreTrainedModel that records it, see :meth:`find`

    def find(self, model: nn.Module) -> dict[str, nn.Module]:
        found: dict[str, nn.Module] = {}
        for prefix, sub in model.named_modules():
            if _is_pretrained(sub):
                specs = _attention_specs(sub)
                for name, module in sub.named_modules(prefix=prefix):
                    if any(_matches(spec, name, module) for spec in specs):
                        found.setdefault(name, module)
        return found

    def hook(self, module: nn.Module, record: Record, grad: bool) -> list[RemovableHandle]:
        def after(_module: nn.Module, _args: Any, output: Any) -> None:
            if isinstance(output, tuple):
                weights = next(
                    (o for o in output[1:] if isinstance(o, Tensor) and o.ndim == 4), None
                )
                if weights is not None:
                    record(weights, weights)

        return [module.register_forward_hook(after)]

    @contextmanager
    def switched(
        self, model: nn.Module, modules: Sequence[nn.Module], grad: bool
    ) -> Iterator[None]:
        configs = _configs(model)
        saved = [
            (c, getattr(c, "_attn_implementation_internal", None), c.output_attentions)
            for c in configs
        ]
        try:
            for config in configs:
                config._attn_implementation = "eager"
                config.output_attentions = True
            yield
        finally:
            for config, implementation, output_attentions in saved:
                config.output_attentions = False  # allowed with any implementation
                config._attn_implementation_internal = implementation
                config.output_attentions = output_attentions


def _is_pretrained(module: nn.Module) -> bool:
    """A ``transformers.PreTrainedModel`` (without importing transformers)."""
    utils = sys.modules.get("transformers.modeling_utils")
    base = getattr(utils, "PreTrainedModel", None)
    return base is not None and isinstance(module, base)


def _attention_specs(model: nn.Module) -> list[Any]:
    """The model's ``attentions`` recorders: classes, class-name suffixes or OutputRecorders."""
    recorded = getattr(model, "_can_record_outputs", None) or {}
    specs = recorded.get("attentions")
    if specs is None:
        return ["SelfAttention"]
    return list(specs) if isinstance(specs, list | tuple) else [specs]


def _matches(spec: Any, name: str, module: nn.Module) -> bool:
    """Whether ``module`` (named ``name``) is what ``spec`` records (transformers' own rule)."""
    if isinstance(spec, type):
        return isinstance(module, spec)
    if isinstance(spec, str):
        return type(module).__name__.endswith(spec) or name.endswith(spec)
    target, class_name = getattr(spec, "target_class", None), getattr(spec, "class_name", None)
    hit = (target is not None and isinstance(module, target)) or (
        class_name is not None and name.endswith(class_name)
    )
    layer = getattr(spec, "layer_name", None)
    return hit and (layer is None or f".{layer.strip('.')}." in f".{name}.")


def _configs(model: nn.Module) -> list[Any]:
    """Every configuration of the model's PreTrainedModels and their sub-configurations."""
    found: dict[int, Any] = {}
    stack: list[Any] = [m.config for m in model.modules() if _is_pretrained(m)]
    while stack:
        config = stack.pop()
        if config is None or id(config) in found:
            continue
        found[id(config)] = config
        stack.extend(getattr(config, key, None) for key in getattr(config, "sub_configs", {}))
    return list(found.values())
