"""Per-head attention weights from one hooked forward pass, whatever the implementation."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from lightning_xai.capture.adapters import AttentionAdapter, find_attention_layers
from lightning_xai.inputs import ModelInputs

__all__ = ["AttentionFn", "call_attention_fn", "capture_attention", "recording"]

T = TypeVar("T")
Layers = Mapping[str, tuple[AttentionAdapter, nn.Module]]
AttentionFn = Callable[[nn.Module, Any], Mapping[str, Tensor]]
"""``(model, inputs) -> {layer_name: weights [N, H, L, S]}`` for any other implementation."""


@contextmanager
def recording(
    model: nn.Module,
    layers: Layers,
    record: Callable[[str, Tensor, Tensor], None],
    grad: bool = False,
) -> Iterator[None]:
    """Inside, every call of a watched layer calls ``record(name, weights, graph)``.

    Args:
        model: the model the layers belong to.
        layers: name -> ``(adapter, module)``, as
            :func:`~lightning_xai.capture.adapters.find_attention_layers` returns.
        record: receives the layer's name, its weights ``[N, H, L, S]`` and the tensor of the
            autograd graph they are (a view of).
        grad: the caller differentiates the output with respect to ``graph``.

    Hooks and the adapters' model settings are removed and restored on exit, even on error.
    """
    by_adapter: dict[int, tuple[AttentionAdapter, list[nn.Module]]] = {}
    for adapter, module in layers.values():
        by_adapter.setdefault(id(adapter), (adapter, []))[1].append(module)
    with ExitStack() as stack:
        for adapter, modules in by_adapter.values():
            stack.enter_context(adapter.switched(model, modules, grad))
        for name, (adapter, module) in layers.items():
            for handle in adapter.hook(module, _named(record, name), grad):
                stack.callback(handle.remove)
        yield


def capture_attention(
    model: nn.Module,
    layers: Layers | None,
    inputs: Any,
    keep: Callable[[Tensor], T] = lambda weights: weights,  # type: ignore[assignment,return-value]
) -> tuple[dict[str, T], Any, list[str]]:
    """Runs ``model(inputs)`` once, with grad off, recording each layer's per-head weights.

    The model's train/eval mode is left as it is; what each adapter switches for the pass
    (PyTorch's MHA fast path, Hugging Face's attention implementation) is restored on exit.

    Args:
        model: the model to run.
        layers: name -> ``(adapter, module)`` to watch; ``None``: every attention layer found.
        inputs: the model's input, or :class:`~lightning_xai.inputs.ModelInputs` (several
            inputs, additional forward args).
        keep: applied to each layer's weights ``[N, H, L, S]`` in the hook (e.g. keep a few
            samples on the CPU, reduce to a statistic); default: keep them as they are.

    Returns:
        ``(captured, outputs, reused)``: layer name -> ``keep(weights)`` for the first call of
        each layer that returned batched weights; the model's outputs; the names of layers
        called more than once (only their first call is kept).

    Example:
        >>> model = nn.TransformerEncoderLayer(8, 2, batch_first=True).eval()
        >>> captured, _, _ = capture_attention(model, None, torch.randn(3, 5, 8))
        >>> captured["self_attn"].shape
        torch.Size([3, 2, 5, 5])
    """
    captured: dict[str, T] = {}
    reused: list[str] = []

    def record(name: str, weights: Tensor, _graph: Tensor) -> None:
        if name in captured:
            reused.append(name)
        else:
            captured[name] = keep(weights.detach())

    watched = find_attention_layers(model) if layers is None else layers
    with recording(model, watched, record), torch.no_grad():
        outputs = call_model(model, inputs)
    return captured, outputs, sorted(set(reused))


def call_attention_fn(
    fn: AttentionFn,
    model: nn.Module,
    inputs: Any,
    layers: Sequence[str] | None = None,
) -> dict[str, Tensor]:
    """The weights a user's ``fn(model, inputs)`` returns, checked, detached, and cut to
    ``layers`` (all when ``None``).

    Raises:
        TypeError: ``fn`` returned something else than ``{name: [N, H, L, S] tensor}``.
        ValueError: a name in ``layers`` is not returned; the message lists those returned.
    """
    returned = fn(model, inputs)
    if not isinstance(returned, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) and v.ndim == 4 for k, v in returned.items()
    ):
        raise TypeError(
            f"`attention_fn` must return {{layer_name: weights [N, H, L, S]}}, got "
            f"{_describe(returned)}."
        )
    unknown = [name for name in layers or () if name not in returned]
    if unknown:
        raise ValueError(
            f"`layers` names {unknown}, which `attention_fn` does not return; it "
            f"returns: {list(returned)}."
        )
    return {k: v.detach() for k, v in returned.items() if layers is None or k in layers}


def _describe(value: Any) -> str:
    """A short description of what ``attention_fn`` returned, for error messages."""
    if not isinstance(value, Mapping):
        return type(value).__name__
    items = list(value.items())[:4]
    shown = (f"{k!r}: {getattr(v, 'shape', type(v).__name__)}" for k, v in items)
    return "{" + ", ".join(shown) + "}"


def call_model(model: nn.Module, inputs: Any) -> Any:
    """``model(inputs)``, or ``inputs(model)`` for :class:`~lightning_xai.inputs.ModelInputs`."""
    return inputs(model) if isinstance(inputs, ModelInputs) else model(inputs)


def _named(
    record: Callable[[str, Tensor, Tensor], None], name: str
) -> Callable[[Tensor, Tensor], None]:
    def named(weights: Tensor, graph: Tensor) -> None:
        if weights.ndim == 4:
            record(name, weights, graph)

    return named
