"""Occlusion's default window and the perturbation methods' feature masks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_xai.inputs import ModelInputs

__all__ = [
    "PATCHES_PER_SIDE",
    "default_window",
    "feature_masks",
    "patch_mask",
    "per_input",
    "perturbation_count",
]

PATCHES_PER_SIDE = 7
"""Images are split into this many windows (Occlusion) or patches (feature masks) a side."""


def default_window(shape: Sequence[int]) -> tuple[int, ...]:
    """Occlusion window: all channels x 1/7 of each spatial side, rounded up (so that 7
    windows cover a side: with ``side // 7`` Captum adds an 8th, mostly outside the input, to
    reach the edge); one feature if 1-D."""
    if len(shape) <= 2:
        return (1,)
    sides = tuple(-(-s // PATCHES_PER_SIDE) for s in shape[2:])
    return (shape[1], *sides)


def per_input(batch: ModelInputs, fn: Callable[[Tensor], Any]) -> Any:
    """``fn`` of the input, or a tuple of ``fn`` of each input of a multi-input model."""
    values = tuple(fn(t) for t in batch.tensors)
    return values if batch.multi else values[0]


def feature_masks(batch: ModelInputs) -> Tensor | tuple[Tensor, ...] | None:
    """Feature masks of the perturbation methods: 7x7 patches of images ``[N, C, H, W]``;
    with several inputs, each element of the others is a feature, ids unique across inputs.
    ``None`` (Captum's default, one feature per element) for one non-image input."""
    if not batch.multi:
        first = batch.first
        return patch_mask(first.shape, first.device) if first.ndim == 4 else None
    masks, offset = [], 0
    for t in batch.tensors:
        if t.ndim == 4:
            mask = patch_mask(t.shape, t.device)
        else:
            mask = torch.arange(t[:1].numel(), device=t.device).reshape(1, *t.shape[1:])
        masks.append(mask + offset)
        offset += int(mask.max()) + 1
    return tuple(masks)


def patch_mask(shape: torch.Size, device: torch.device) -> Tensor:
    """Feature mask ``[1, 1, H, W]``: a 7x7 grid of patches, shared by all channels."""
    height, width = shape[-2:]
    rows = torch.arange(height, device=device) * PATCHES_PER_SIDE // height
    cols = torch.arange(width, device=device) * PATCHES_PER_SIDE // width
    return (rows[:, None] * PATCHES_PER_SIDE + cols[None, :])[None, None]


def perturbation_count(kwargs: Mapping[str, Any], batch: ModelInputs) -> int | None:
    """Perturbations of one sample in a perturbation method's call with ``kwargs``: Occlusion's
    windows (``ceil((side - window) / stride) + 1`` a dimension, as Captum places them) or the
    features of a ``feature_mask`` (ids ``0..k-1``; every element without one). ``None`` for
    several attributed inputs or a window that is not a tuple of ints.

    Example:
        >>> batch = ModelInputs.of(torch.zeros(2, 1, 28, 28))
        >>> perturbation_count({"sliding_window_shapes": (1, 4, 4), "strides": (1, 4, 4)}, batch)
        49
        >>> perturbation_count({"feature_mask": patch_mask(batch.first.shape, "cpu")}, batch)
        49
    """
    if batch.multi:
        return None
    shape = tuple(batch.first.shape[1:])
    window = kwargs.get("sliding_window_shapes")
    if window is None:
        mask = kwargs.get("feature_mask")
        return int(mask.max()) + 1 if isinstance(mask, Tensor) else math.prod(shape)
    strides = kwargs.get("strides", 1)
    strides = strides if isinstance(strides, tuple) else (strides,) * len(shape)
    sizes = (*window, *strides)
    if len(window) != len(shape) or len(strides) != len(shape):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes):
        return None
    return math.prod(-(-(s - w) // t) + 1 for s, w, t in zip(shape, window, strides, strict=True))
