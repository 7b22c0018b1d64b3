"""Inputs as pictures: undo the data normalisation, make RGB, enlarge small images."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Denormalize", "enlarge", "to_display"]

Denormalize = Callable[[Tensor], Tensor] | tuple[Sequence[float], Sequence[float]] | None
"""``(mean, std)`` per channel, a callable ``[N, C, H, W] -> [N, C, H, W]``, or ``None``
(per-sample min-max)."""


def to_display(inputs: Tensor, denormalize: Denormalize = None) -> Tensor:
    """Model inputs as RGB pictures.

    Args:
        inputs: ``[N, C, H, W]`` images as the model sees them.
        denormalize: see :data:`Denormalize`.

    Returns:
        ``[N, 3, H, W]`` float32 in [0, 1]; 1 channel is repeated, other counts but 3 averaged.

    Example:
        >>> to_display(torch.zeros(2, 1, 4, 4), ([0.5], [0.25])).unique()
        tensor([0.5000])
    """
    x = inputs.detach().float()
    if callable(denormalize):
        x = denormalize(x).float()
    elif denormalize is not None:
        mean, std = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in denormalize)
        x = x * std.reshape(1, -1, 1, 1) + mean.reshape(1, -1, 1, 1)
    else:
        low = x.flatten(1).min(dim=1).values.reshape(-1, 1, 1, 1)
        high = x.flatten(1).max(dim=1).values.reshape(-1, 1, 1, 1)
        x = (x - low) / (high - low).clamp(min=1e-12)
    if x.shape[1] != 3:
        x = x.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    return x.clamp(0, 1)


def enlarge(images: Tensor, min_side: int) -> Tensor:
    """Nearest-neighbour upscaling by the integer factor that brings the short side to at
    least ``min_side`` (crisp pixels; no-op for large images).

    Args:
        images: ``[N, C, H, W]``.
    """
    factor = -(-min_side // min(images.shape[-2:]))
    if factor <= 1:
        return images
    return F.interpolate(images, scale_factor=factor, mode="nearest")
