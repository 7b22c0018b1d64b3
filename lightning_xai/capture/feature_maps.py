"""Layer outputs read during one forward pass of the probe, summarised in the hooks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lightning_xai.inputs import ModelInputs
from lightning_xai.metrics.activations import (
    channel_activity,
    dead_channel_fraction,
    mean_activation,
    sparsity,
)

__all__ = ["CONV_LAYERS", "capture_outputs", "find_conv_layers", "summarise_output"]

CONV_LAYERS = (nn.Conv1d, nn.Conv2d)
"""The layers whose feature maps and filters can be drawn."""

_HISTOGRAM_VALUES = 1 << 16  # activation histograms take at most this many (evenly strided) values


def capture_outputs(
    model: nn.Module,
    layers: Mapping[str, nn.Module],
    batch: ModelInputs,
    summarise: Callable[[Tensor], dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """One forward pass (grad off) with a hook on each layer; each output is summarised in its
    hook (before any in-place op after the layer can change it), then dropped.

    Returns:
        layer name -> summary of its first call, and the names of layers called more than once.
    """
    captured: dict[str, dict[str, Any]] = {}
    reused: list[str] = []

    def hook_for(name: str) -> Callable[[nn.Module, Any, Tensor], None]:
        def hook(module: nn.Module, args: Any, output: Tensor) -> None:
            if name in captured:
                if name not in reused:
                    reused.append(name)
                return
            captured[name] = summarise(output)

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in layers.items()]
    try:
        with torch.no_grad():
            batch(model)
    finally:
        for handle in handles:
            handle.remove()
    return captured, reused


def summarise_output(
    output: Tensor,
    samples: list[int],
    activation: Callable[[Tensor], Tensor] | None,
    histograms: bool,
) -> dict[str, Any]:
    """A convolution's output ``[N, C, ...]`` reduced to what a run draws and logs (CPU).

    Returns:
        ``scores`` ``[C]`` (mean ``|activation(output)|``), ``health`` (dead fraction, sparsity,
        mean activation), ``maps`` ``[S, C, ...]`` of the drawn samples, ``values`` (a
        strided sample of the raw output for the histogram, or ``None``) and ``finite``
        (no NaN or inf in the output).
    """
    out = output.detach()
    active = out if activation is None else activation(out)
    flat = out.flatten()
    stride = math.ceil(flat.numel() / _HISTOGRAM_VALUES)
    return {
        "scores": channel_activity(active).cpu(),
        "health": {
            "dead_fraction": float(dead_channel_fraction(active)),
            "sparsity": float(sparsity(active)),
            "mean_activation": float(mean_activation(active)),
        },
        "maps": out[samples].float().cpu().clone(),
        "values": flat[::stride].float().cpu().clone() if histograms else None,
        "finite": bool(torch.isfinite(out).all()),
    }


def find_conv_layers(
    model: nn.Module, names: Sequence[str] | None
) -> dict[str, nn.Conv1d | nn.Conv2d]:
    """The ``Conv1d``/``Conv2d`` layers named in ``names`` (all when ``None``; ``{}`` when
    the model has none).

    Raises:
        ValueError: a name is not a submodule, or not a convolution; the message lists them.
    """
    convs = {name: m for name, m in model.named_modules() if isinstance(m, CONV_LAYERS)}
    if names is None:
        return convs
    watched = {}
    for name in names:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise ValueError(
                f"`layers` names {name!r}, which is not a submodule of {type(model).__name__}. "
                f"Conv layers: {list(convs)}."
            ) from None
        if not isinstance(module, CONV_LAYERS):
            raise ValueError(
                f"`layers` names {name!r}, a {type(module).__name__}; only Conv1d and Conv2d "
                f"layers can be drawn. Conv layers: {list(convs)}."
            )
        watched[name] = module
    return watched
