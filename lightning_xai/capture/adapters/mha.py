"""``nn.MultiheadAttention`` (PyTorch's own layers, torchvision's ViT): per-head weights forced
on for the pass, the caller handed what it asked for."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from lightning_xai.capture.adapters.base import AttentionAdapter, Record

__all__ = ["MultiheadAttentionAdapter"]

# MultiheadAttention.forward(query, key, value, key_padding_mask, need_weights, attn_mask,
# average_attn_weights, is_causal): where the two switches sit when passed by position.
_SWITCHES = (("need_weights", 4), ("average_attn_weights", 6))


class MultiheadAttentionAdapter(AttentionAdapter):
    """A forward pre-hook makes every call compute per-head weights (``need_weights=True,
    average_attn_weights=False``; ``nn.TransformerEncoderLayer`` asks for none) and a forward
    hook records them and hands the caller what it asked for (``None``, or the head average),
    so the model computes what it always does. PyTorch's fused fast path
    (``torch.backends.mha``), which skips the layers or packs padded batches into nested
    tensors, is off for the pass.
    """

    name = "nn.MultiheadAttention"

    def owns(self, module: nn.Module) -> bool:
        return isinstance(module, nn.MultiheadAttention)

    def hook(self, module: nn.Module, record: Record, grad: bool) -> list[RemovableHandle]:
        requested: list[tuple[bool, bool]] = []

        def before(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            requested.append(_requested(args, kwargs))
            return _forced(args, kwargs)

        def after(_module: nn.Module, _args: Any, output: tuple[Tensor, Tensor | None]) -> Any:
            need, average = requested.pop() if requested else (True, True)
            result, weights = output
            if isinstance(weights, Tensor) and weights.ndim == 4:
                # The returned weights are a view of the softmax the layer multiplied with.
                record(weights, weights._base if weights._base is not None else weights)
            if not need or weights is None:
                return result, None
            return (result, weights.mean(dim=-3)) if average else output

        return [
            module.register_forward_pre_hook(before, with_kwargs=True),
            module.register_forward_hook(after),
        ]

    @contextmanager
    def switched(
        self, model: nn.Module, modules: Sequence[nn.Module], grad: bool
    ) -> Iterator[None]:
        fast_path = _fast_path_enabled()
        try:
            _set_fast_path(False)
            yield
        finally:
            _set_fast_path(fast_path)


def _requested(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, bool]:
    """What the caller asked for: ``(need_weights, average_attn_weights)``."""
    values = [
        bool(args[position]) if len(args) > position else bool(kwargs.get(key, True))
        for key, position in _SWITCHES
    ]
    return values[0], values[1]


def _forced(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with per-head weights switched on."""
    args_list, kwargs = list(args), dict(kwargs)
    for (key, position), value in zip(_SWITCHES, (True, False), strict=True):
        if len(args_list) > position:
            args_list[position] = value
        else:
            kwargs[key] = value
    return tuple(args_list), kwargs


def _backend() -> Any:
    return getattr(torch.backends, "mha", None)


def _fast_path_enabled() -> bool:
    mha = _backend()
    return bool(mha.get_fastpath_enabled()) if mha is not None else False


def _set_fast_path(enabled: bool) -> None:
    mha = _backend()
    if mha is not None:
        mha.set_fastpath_enabled(enabled)
