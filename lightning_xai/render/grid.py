"""Tile grids with thin separators: convolution kernels and feature maps as one picture.

Tiles are ``[T, C, h, w]`` with ``C`` 1 (grey or colormapped) or 3 (RGB). Conv1d data are
tiles of height 1 (strips). Everything here is tensor work; nothing loops over tiles.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.utils import make_grid

from lightning_xai.render.colormaps import apply_colormap

__all__ = [
    "KERNEL_VIEWS",
    "NORMALIZATIONS",
    "SEPARATOR",
    "feature_map_tiles",
    "fit_scale",
    "kernel_tiles",
    "normalize_tiles",
    "select_channels",
    "tile_grid",
]

NORMALIZATIONS = ("tile", "layer")
KERNEL_VIEWS = ("slices", "mean")
SEPARATOR = (0.3, 0.5, 0.8)
"""Colour of the separators and empty cells: a blue that no grey tile contains."""


def normalize_tiles(tiles: Tensor, normalize: str = "tile") -> Tensor:
    """Min-max scaling to [0, 1], per tile or over all tiles.

    Args:
        tiles: ``[T, C, h, w]``; non-finite values are shown as 0.
        normalize: ``"tile"`` (each tile's own min and max; an RGB tile is scaled over its
            three channels together) or ``"layer"`` (one min and max for all tiles).

    Returns:
        ``[T, C, h, w]`` float32 in [0, 1]; a constant tile (or layer) becomes 0.

    Example:
        >>> normalize_tiles(torch.tensor([[[[1.0, 3.0]]], [[[0.0, 10.0]]]]))[:, 0, 0]
        tensor([[0., 1.],
                [0., 1.]])
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"`normalize` must be one of {list(NORMALIZATIONS)}, got {normalize!r}.")
    x = tiles.detach().float()
    x = torch.where(torch.isfinite(x), x, torch.zeros_like(x))
    flat = x.flatten(1) if normalize == "tile" else x.reshape(1, -1)
    low = flat.min(dim=1).values
    span = flat.max(dim=1).values - low
    span = torch.where(span > 0, span, torch.ones_like(span))
    shape = (-1, 1, 1, 1) if normalize == "tile" else (1, 1, 1, 1)
    return ((x - low.reshape(shape)) / span.reshape(shape)).clamp(0, 1)


def tile_grid(
    tiles: Tensor,
    ncols: int | None = None,
    normalize: str = "tile",
    scale: int | tuple[int, int] = 1,
    gap: int = 1,
    fill: tuple[float, float, float] = SEPARATOR,
    colormap: str | None = None,
) -> Tensor:
    """Tiles in rows of ``ncols``, separated by ``gap`` pixels of ``fill``.

    Tile ``t`` sits in row ``t // ncols`` and column ``t % ncols``; its top-left pixel is at
    ``(row * (h * sh + gap), col * (w * sw + gap))`` and each value covers ``sh x sw``
    pixels (nearest-neighbour enlargement). There is no outer border; empty cells of the last
    row are ``fill``.

    Args:
        tiles: ``[T, C, h, w]`` with ``C`` 1 or 3.
        ncols: tiles per row; default ``ceil(sqrt(T))``.
        normalize: see :func:`normalize_tiles`.
        scale: integer enlargement ``s`` or ``(sh, sw)``.
        gap: separator width in pixels.
        fill: RGB colour of separators and empty cells, in [0, 1].
        colormap: name of a colormap for 1-channel tiles (see
            :func:`~lightning_xai.render.colormap`); ``None`` is grey.

    Returns:
        ``[3, rows * (h * sh + gap) - gap, ncols * (w * sw + gap) - gap]`` float in [0, 1].

    Example:
        >>> tile_grid(torch.rand(5, 1, 3, 3), scale=2).shape
        torch.Size([3, 13, 20])
    """
    if tiles.ndim != 4 or tiles.shape[1] not in (1, 3) or tiles.shape[0] == 0:
        raise ValueError(
            f"`tiles` must be [T, C, h, w] with T > 0 and C 1 or 3, got {tuple(tiles.shape)}."
        )
    count, channels = tiles.shape[:2]
    ncols = ncols or math.ceil(math.sqrt(count))
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    if ncols < 1 or sh < 1 or sw < 1 or gap < 0:
        raise ValueError(
            f"`ncols`, `scale` must be >= 1 and `gap` >= 0, got {ncols}, {scale}, {gap}."
        )
    rgb = normalize_tiles(tiles, normalize)
    if channels == 1:
        rgb = rgb.expand(-1, 3, -1, -1) if colormap is None else apply_colormap(rgb, colormap)
    if (sh, sw) != (1, 1):
        rgb = rgb.repeat_interleave(sh, dim=2).repeat_interleave(sw, dim=3)
    # torchvision's make_grid, with NaN (never a tile value) marking its padding and the empty
    # cells, which then take the RGB ``fill``; its outer border is cut off.
    empty = math.ceil(count / ncols) * ncols - count
    rgb = torch.cat([rgb, rgb.new_full((empty, *rgb.shape[1:]), math.nan)])
    grid = rgb[0]  # make_grid returns a lone tile as it is
    if len(rgb) > 1:
        grid = make_grid(rgb, nrow=ncols, padding=gap, pad_value=math.nan)
        grid = grid[:, gap : grid.shape[1] - gap, gap : grid.shape[2] - gap]
    colour = torch.tensor(fill, dtype=rgb.dtype, device=rgb.device).reshape(3, 1, 1)
    return torch.where(grid.isnan(), colour, grid)


def fit_scale(height: int, width: int, tile_size: int) -> tuple[int, int]:
    """Integer enlargement ``(sh, sw)`` that makes a tile readable at about ``tile_size`` px.

    Square-ish tiles grow evenly until their long side reaches ``tile_size``; strips (height
    1, Conv1d) become ``tile_size // 4`` pixels high and about ``4 * tile_size`` wide. Large
    tiles keep their size.

    Example:
        >>> fit_scale(3, 3, 32), fit_scale(1, 64, 32), fit_scale(56, 56, 32)
        ((11, 11), (8, 2), (1, 1))
    """
    if height == 1 and width > 1:
        return max(1, tile_size // 4), max(1, math.ceil(4 * tile_size / width))
    factor = max(1, math.ceil(tile_size / max(height, width)))
    return factor, factor


def select_channels(scores: Tensor, max_channels: int | None) -> Tensor:
    """Indices of the ``max_channels`` highest-scoring channels, in ascending channel order.

    Ties go to the lower channel index. ``None`` (or a cap at least ``C``) keeps all channels.

    Args:
        scores: ``[C]``, e.g. :func:`~lightning_xai.metrics.activations.channel_activity`.

    Returns:
        ``[min(C, max_channels)]`` long tensor.

    Example:
        >>> select_channels(torch.tensor([0.1, 5.0, 0.0, 2.0]), 2)
        tensor([1, 3])
    """
    count = scores.shape[0]
    if max_channels is None or max_channels >= count:
        return torch.arange(count, device=scores.device)
    order = torch.argsort(scores.detach().float(), descending=True, stable=True)
    return order[:max_channels].sort().values


def kernel_tiles(
    weight: Tensor, view: str = "slices", max_inputs: int = 8, rgb: bool = True
) -> tuple[Tensor, int]:
    """Tiles of a convolution's kernels and the number of columns to lay them out in.

    - Conv2d taking 3 input channels (and ``rgb``): one RGB tile per output channel.
    - ``view="slices"``: one tile per (output, input) slice for the first ``max_inputs``
      inputs; one row per output channel (a square-ish grid when there is a single input).
    - ``view="mean"``: one tile per output channel, the mean over its inputs.

    Args:
        weight: ``[C_out, C_in / groups, kH, kW]`` (Conv2d) or ``[C_out, C_in / groups, k]``
            (Conv1d: tiles are ``1 x k`` strips).
        view: one of :data:`KERNEL_VIEWS`.
        max_inputs: cap on input slices per output channel for ``"slices"``.
        rgb: draw 3-input Conv2d kernels as colour tiles.

    Returns:
        ``(tiles [T, C, kH, kW], ncols)``; tile ``o * k + i`` is output ``o``, input ``i``.

    Example:
        >>> tiles, ncols = kernel_tiles(torch.randn(32, 16, 3, 3), max_inputs=4)
        >>> tiles.shape, ncols
        (torch.Size([128, 1, 3, 3]), 4)
    """
    if view not in KERNEL_VIEWS:
        raise ValueError(f"`view` must be one of {list(KERNEL_VIEWS)}, got {view!r}.")
    if weight.ndim not in (3, 4):
        raise ValueError(
            f"`weight` must be a Conv1d [O, I, k] or Conv2d [O, I, kH, kW] kernel, got shape "
            f"{tuple(weight.shape)}."
        )
    w = weight.detach().float()
    is_2d = w.ndim == 4
    if not is_2d:
        w = w.unsqueeze(2)  # [O, I, 1, k]
    outputs, inputs = w.shape[:2]
    if is_2d and rgb and inputs == 3:
        return w, math.ceil(math.sqrt(outputs))
    if view == "mean":
        return w.mean(dim=1, keepdim=True), _columns(outputs, w.shape[-2:])
    shown = min(inputs, max_inputs)
    tiles = w[:, :shown].reshape(outputs * shown, 1, *w.shape[-2:])
    return tiles, shown if shown > 1 else _columns(outputs, w.shape[-2:])


def feature_map_tiles(maps: Tensor) -> tuple[Tensor, int]:
    """Tiles of one sample's feature maps and the number of columns to lay them out in.

    Args:
        maps: ``[C, H, W]`` (Conv2d: a square-ish grid) or ``[C, L]`` (Conv1d: one ``1 x L``
            strip per channel, stacked in a single column, so channels x length).

    Returns:
        ``(tiles [C, 1, H, W] or [C, 1, 1, L], ncols)``.

    Example:
        >>> tiles, ncols = feature_map_tiles(torch.rand(16, 26, 26))
        >>> tiles.shape, ncols
        (torch.Size([16, 1, 26, 26]), 4)
    """
    if maps.ndim == 2:
        return maps.detach().unsqueeze(1).unsqueeze(1), 1
    if maps.ndim == 3:
        return maps.detach().unsqueeze(1), math.ceil(math.sqrt(maps.shape[0]))
    raise ValueError(
        f"`maps` must be one sample's feature maps [C, H, W] or [C, L], got shape "
        f"{tuple(maps.shape)}."
    )


def _columns(count: int, tile_shape: torch.Size) -> int:
    """Strips go in one column; square-ish tiles in a square-ish grid."""
    return 1 if tile_shape[0] == 1 and tile_shape[1] > 1 else math.ceil(math.sqrt(count))
