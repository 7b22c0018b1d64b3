"""Colour bars: the colormap of a picture as a strip, with the values at its ends printed, and
the mark of a map too weak to draw ("~0")."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lightning_xai.render.colormaps import apply_colormap
from lightning_xai.render.panel import text_line

__all__ = ["NEGLIGIBLE", "colorbar", "colorbars", "format_value", "negligible"]

NEGLIGIBLE = 1e-8
"""A map whose largest |attribution| is below this fraction of its sample's largest |output|
is drawn flat and marked ``~0``: stretched to full contrast it would show rounding noise."""
_BAND = 6
_LONGEST = "+8.8e-88"  # the widest value format_value writes ("+" is wider than "-")
_FLAT = 0.85  # the grey of a negligible map's bar


def format_value(value: float) -> str:
    """A bar's end value, short and precise enough to tell two scales apart: two significant
    digits, scientific outside [0.01, 100); signed unless zero.

    Example:
        >>> [format_value(v) for v in (-0.0321, 3.2e-5, 0.0, 12.0)]
        ['-0.032', '+3.2e-05', '0', '+12']
    """
    if value == 0:
        return "0"
    if 1e-2 <= abs(value) < 1e2:
        return f"{value:+.2g}"
    return f"{value:+.1e}"


def colorbar(name: str, low: float, high: float, width: int, size: int = 10) -> Tensor:
    """A horizontal colour bar: ``name``'s colormap from ``low`` (left) to ``high`` (right),
    the two values printed under its ends.

    Args:
        name: a colormap of :func:`~lightning_xai.render.colormap`.
        low: the value of the colormap's first colour.
        high: the value of its last colour.
        width: pixels across.
        size: the largest font size of the values; one size for every bar this wide, the
            one at which the longest value (``+8.8e-88``) fits half the width.

    Returns:
        ``[3, size + 11, width]`` float in [0, 1]: one white row, the band, the values.

    Example:
        >>> colorbar("diverging", -0.5, 0.5, 112).shape
        torch.Size([3, 21, 112])
    """
    band = apply_colormap(torch.linspace(0, 1, width).reshape(1, 1, width), name)[0]
    half = width // 2
    left = text_line(format_value(low), half, size, "left", _LONGEST)
    right = text_line(format_value(high), width - half, size, "right", _LONGEST)
    return _stack(band, torch.cat([_tensor(left), _tensor(right)], dim=2))


def _mark(peak: float, width: int, size: int) -> Tensor:
    """The bar of a negligible map: flat grey, ``~0`` and its largest |value| printed."""
    band = torch.full((3, 1, width), _FLAT)
    text = f"~0 (max {abs(peak):.1e})"
    return _stack(band, _tensor(text_line(text, width, size, align="center")))


def colorbars(
    name: str, lows: Tensor, highs: Tensor, width: int, marked: Tensor | None = None,
    peaks: Tensor | None = None,
    size: int = 10,
) -> Tensor:  # fmt: skip
    """:func:`colorbar` per sample; marked samples get the ``~0`` bar instead.

    Args:
        name: the colormap.
        lows: ``[N]`` values of the first colour.
        highs: ``[N]`` values of the last colour.
        width: pixels across.
        marked: ``[N]`` bool, samples drawn flat (see :func:`negligible`), or ``None``.
        peaks: ``[N]`` largest |value| of each map, printed on the marked bars.
        size: the largest font size.

    Returns:
        ``[N, 3, size + 11, width]`` float in [0, 1].
    """
    bars = []
    for k, (low, high) in enumerate(zip(lows.tolist(), highs.tolist(), strict=True)):
        if marked is not None and bool(marked[k]):
            bars.append(_mark(0.0 if peaks is None else float(peaks[k]), width, size))
        else:
            bars.append(colorbar(name, low, high, width, size))
    return torch.stack(bars)


def negligible(attribution: Tensor, outputs: Tensor) -> Tensor:
    """Which maps are too weak to draw: largest |attribution| below :data:`NEGLIGIBLE` times
    the sample's largest |output| (all-zero maps always are).

    Args:
        attribution: ``[N, ...]``.
        outputs: the model's outputs ``[N, ...]`` (or ``[N]``) on the same samples.

    Returns:
        ``[N]`` bool.

    Example:
        >>> negligible(torch.tensor([[1e-12], [1e-3]]), torch.tensor([[5.0], [5.0]]))
        tensor([ True, False])
    """
    peak = attribution.detach().abs().reshape(len(attribution), -1).amax(dim=1).double()
    scale = outputs.detach().abs().reshape(len(outputs), -1).amax(dim=1).double()
    return (peak <= NEGLIGIBLE * scale.to(peak.device)) | (peak == 0)


def _tensor(pixels: np.ndarray) -> Tensor:
    return torch.from_numpy(pixels.astype(np.float32) / 255).expand(3, -1, -1)


def _stack(band: Tensor, labels: Tensor) -> Tensor:
    width = labels.shape[2]
    return torch.cat([torch.ones(3, 1, width), band.expand(3, _BAND, width), labels], dim=1).clamp(
        0, 1
    )
