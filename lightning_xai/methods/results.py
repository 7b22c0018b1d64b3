"""What a method returns, and the small operations every consumer applies to it."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_xai.inputs import ModelInputs

__all__ = [
    "Attribution",
    "Inputs",
    "NeuronSelector",
    "Target",
    "each",
    "finite_float",
    "flattened",
    "on_input_grid",
]

NeuronSelector = int | tuple[int | slice, ...] | Callable[[Tensor], Tensor]
"""A unit of a layer: an index, indices per dimension, or ``layer_output [N, ...] -> [N]``."""

Inputs = Tensor | ModelInputs
"""A method's inputs: a tensor ``[N, ...]``, or a multi-input model's (with extra args)."""

Attribution = Tensor | tuple[Tensor, ...]
"""An attribution ``[N, ...]``, or one per input of a multi-input model."""
Target = Tensor | int | None
"""The class to explain: one per sample ``[N]``, one for all, or ``None`` (one output)."""


def each(value: Attribution, fn: Callable[[Tensor], Tensor]) -> Attribution:
    """``fn`` of an attribution, or of each part of a multi-input attribution."""
    return tuple(fn(v) for v in value) if isinstance(value, tuple) else fn(value)


def finite_float(attribution: Tensor) -> Tensor:
    """The attribution detached, as float32; raises on NaN or inf."""
    attribution = attribution.detach().float()
    if not torch.isfinite(attribution).all():
        raise FloatingPointError("the attributions contain NaN or inf")
    return attribution


def flattened(attribution: Attribution) -> Tensor:
    """One tensor per attribution: a multi-input one flattened per sample, ``[N, D]``."""
    if isinstance(attribution, Tensor):
        return attribution
    return torch.cat([a.flatten(1) for a in attribution], dim=1)


def on_input_grid(attribution: Tensor, inputs: Tensor | ModelInputs) -> Tensor:
    """A layer attribution ``[N, C, h, w]`` as ``[N, 1, H, W]`` on the input grid: summed over
    channels and upsampled bilinearly (onto the first input with as many dimensions, for a
    multi-input model; ``[N, C, l]`` linearly). Input-shaped and 1-D (``[N, U]``)
    attributions are returned as they are."""
    tensors = inputs.tensors if isinstance(inputs, ModelInputs) else (inputs,)
    grid = tensors[ModelInputs.grid_of(tensors, attribution.ndim)]
    if attribution.shape == grid.shape or not attribution.ndim == grid.ndim >= 3:
        return attribution
    summed = attribution.sum(dim=1, keepdim=True)
    mode = "bilinear" if grid.ndim == 4 else "linear"
    return F.interpolate(summed, size=grid.shape[2:], mode=mode, align_corners=False)
