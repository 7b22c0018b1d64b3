"""Per-head attention weights of ``nn.MultiheadAttention`` layers from one hooked forward pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from lightning_xai.inputs import ModelInputs

__all__ = ["capture_attention"]

T = TypeVar("T")

# MultiheadAttention.forward(query, key, value, key_padding_mask, need_weights, attn_mask,
# average_attn_weights, is_causal): where the two switches sit when passed by position.
_SWITCHES = (("need_weights", 4), ("average_attn_weights", 6))


def capture_attention(
    model: nn.Module,
    layers: Mapping[str, nn.MultiheadAttention],
    inputs: Any,
    keep: Callable[[Tensor], T] = lambda weights: weights,  # type: ignore[assignment,return-value]
) -> tuple[dict[str, T], Any, list[str]]:
    """Runs ``model(inputs)`` once, with grad off, recording each layer's per-head weights.

    A forward pre-hook makes every call of a watched layer compute per-head weights
    (``need_weights=True, average_attn_weights=False``; ``nn.TransformerEncoderLayer`` asks for
    none), and a forward hook records them and hands the caller what it asked for (``None``,
    or the head average), so the model computes what it always does. PyTorch's fused fast path
    (``torch.backends.mha``), which skips the layers or packs padded batches into nested
    tensors, is switched off for the pass. Hooks and the fast-path setting are restored on
    exit, even on error. The model's train/eval mode is left as it is.

    Args:
        model: the model to run.
        layers: name -> ``nn.MultiheadAttention`` submodule of ``model`` to watch.
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
        >>> captured, _, _ = capture_attention(model, {"self_attn": model.self_attn},
        ...                                     torch.randn(3, 5, 8))
        >>> captured["self_attn"].shape
        torch.Size([3, 2, 5, 5])
    """
    captured: dict[str, T] = {}
    requested: dict[str, tuple[bool, bool]] = {}
    reused: list[str] = []

    def before(name: str) -> Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            requested[name] = _requested(args, kwargs)
            return _forced(args, kwargs)

        return hook

    def after(name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, args: Any, output: tuple[Tensor, Tensor | None]) -> Any:
            need, average = requested.pop(name, (True, True))
            result, weights = output
            if isinstance(weights, Tensor) and weights.ndim == 4:
                if name in captured:
                    reused.append(name)
                else:
                    captured[name] = keep(weights.detach())
            if not need or weights is None:
                return result, None
            return (result, weights.mean(dim=-3)) if average else output

        return hook

    fast_path = _fast_path_enabled()
    handles = []
    try:
        for name, module in layers.items():
            handles.append(module.register_forward_pre_hook(before(name), with_kwargs=True))
            handles.append(module.register_forward_hook(after(name)))
        _set_fast_path(False)
        with torch.no_grad():
            outputs = inputs(model) if isinstance(inputs, ModelInputs) else model(inputs)
    finally:
        for handle in handles:
            handle.remove()
        _set_fast_path(fast_path)
    return captured, outputs, sorted(set(reused))


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


def _fast_path_enabled() -> bool:
    mha = getattr(torch.backends, "mha", None)
    return bool(mha.get_fastpath_enabled()) if mha is not None else False


def _set_fast_path(enabled: bool) -> None:
    mha = getattr(torch.backends, "mha", None)
    if mha is not None:
        mha.set_fastpath_enabled(enabled)
