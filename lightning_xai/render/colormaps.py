"""Colormaps as lookup tensors ``[256, 3]`` and their application to value maps."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import torch
from torch import Tensor

__all__ = ["COLORMAPS", "apply_colormap", "colormap"]

COLORMAPS = ("blues", "diverging", "gray", "greens", "reds", "viridis")
"""The known names: matplotlib's Blues, gray, Greens, Reds and viridis, and ``diverging``,
Captum's red-white-green map for signed attributions. Their lookup tables are matplotlib's,
sampled once by ``tools/make_colormaps.py`` into ``colormaps.json`` (matplotlib is not needed
at run time)."""


@cache
def _tables() -> dict[str, str]:
    text = resources.files("lightning_xai.render").joinpath("colormaps.json").read_text()
    return dict(json.loads(text)["maps"])


@cache
def colormap(name: str) -> Tensor:
    """Lookup table ``[256, 3]`` (float32, values in [0, 1]) for ``name``: matplotlib's.

    Example:
        >>> colormap("diverging")[0]  # Captum's red
        tensor([1., 0., 0.])
    """
    if name not in COLORMAPS:
        raise ValueError(f"Unknown colormap {name!r}. Known: {list(COLORMAPS)}.")
    code = _tables()[name]
    values = [int(code[i : i + 4], 16) for i in range(0, len(code), 4)]
    return torch.tensor(values, dtype=torch.float64).div(65535).float().reshape(256, 3)


def apply_colormap(values: Tensor, name: str) -> Tensor:
    """Colours a map of values in [0, 1] as matplotlib does (entry ``floor(256 x)``, 1.0 the
    last).

    Args:
        values: ``[N, 1, H, W]`` (or ``[N, H, W]``) in [0, 1]; NaN is shown as 0.

    Returns:
        ``[N, 3, H, W]`` float in [0, 1].
    """
    if values.ndim == 4:
        values = values[:, 0]
    lut = colormap(name).to(values.device)
    index = (values.nan_to_num(0.0).clamp(0, 1) * 256).floor().long().clamp(max=255)
    return lut[index].permute(0, 3, 1, 2)
