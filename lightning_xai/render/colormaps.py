"""Colormaps as lookup tensors ``[256, 3]`` and their application to value maps."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["apply_colormap", "colormap"]

# Anchor colours (RGB in [0, 1]) interpolated linearly to 256 entries. "diverging" is Captum's
# red-white-green map for signed attributions; the sequential maps follow matplotlib's Greens,
# Reds and Blues (light to dark) as Captum uses them for one-signed attributions.
_ANCHORS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "diverging": ((0.75, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 0.5, 0.0)),
    "greens": ((0.97, 0.99, 0.96), (0.45, 0.77, 0.46), (0.0, 0.27, 0.11)),
    "reds": ((1.0, 0.96, 0.94), (0.98, 0.42, 0.29), (0.40, 0.0, 0.05)),
    "blues": ((0.97, 0.98, 1.0), (0.42, 0.68, 0.84), (0.03, 0.19, 0.42)),
    "gray": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "viridis": (
        (0.267, 0.005, 0.329),
        (0.231, 0.322, 0.545),
        (0.129, 0.569, 0.549),
        (0.369, 0.788, 0.384),
        (0.993, 0.906, 0.144),
    ),
}
_CACHE: dict[str, Tensor] = {}


def colormap(name: str) -> Tensor:
    """Lookup table ``[256, 3]`` (float32, values in [0, 1]) for ``name``.

    Example:
        >>> colormap("diverging")[128]
        tensor([1.0000, 0.9980, 0.9961])
    """
    if name not in _ANCHORS:
        raise ValueError(f"Unknown colormap {name!r}. Known: {sorted(_ANCHORS)}.")
    if name not in _CACHE:
        anchors = torch.tensor(_ANCHORS[name], dtype=torch.float32)  # [A, 3]
        pos = torch.linspace(0, len(anchors) - 1, 256)
        low = pos.floor().long().clamp(max=len(anchors) - 2)
        frac = (pos - low).unsqueeze(1)
        _CACHE[name] = anchors[low] * (1 - frac) + anchors[low + 1] * frac
    return _CACHE[name]


def apply_colormap(values: Tensor, name: str) -> Tensor:
    """Colours a map of values in [0, 1].

    Args:
        values: ``[N, 1, H, W]`` (or ``[N, H, W]``) in [0, 1]; NaN is shown as 0.

    Returns:
        ``[N, 3, H, W]`` float in [0, 1].
    """
    if values.ndim == 4:
        values = values[:, 0]
    lut = colormap(name).to(values.device)
    index = (values.nan_to_num(0.0).clamp(0, 1) * 255).round().long()
    return lut[index].permute(0, 3, 1, 2)
