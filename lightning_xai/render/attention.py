"""Attention weights as pictures: labelled query x key heat maps and CLS-to-patch maps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_xai.render.colormaps import apply_colormap
from lightning_xai.render.panel import titled_row
from lightning_xai.render.tokens import LINE_HEIGHT, text_tile

__all__ = [
    "PREFIX_TOKENS",
    "attention_matrix",
    "cls_attention_maps",
    "infer_patch_grid",
    "model_view",
    "upsample_maps",
]

PREFIX_TOKENS = (1, 0, 2, 5)
"""Tokens before the patches that :func:`infer_patch_grid` tries, in order: CLS; none; CLS and
a distillation token (DeiT); CLS and four register tokens (timm's ``*_reg4`` ViTs)."""


def attention_matrix(
    weights: Tensor,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    cell: int | None = None,
    colormap: str = "viridis",
) -> Tensor:
    """One head's attention as a heat map, query rows x key columns, scaled by its maximum.

    Args:
        weights: ``[L, S]`` attention of ``L`` queries over ``S`` keys (rows sum to 1).
        row_labels: ``L`` query token strings, drawn left of the rows.
        col_labels: ``S`` key token strings, drawn (rotated) above the columns.
        cell: pixels per cell; default ``LINE_HEIGHT`` with labels, else about 192 / max(L, S).
        colormap: name of the colormap.

    Returns:
        ``[3, H, W]`` float in [0, 1].

    Example:
        >>> attention_matrix(torch.full((2, 3), 1 / 3), ["a", "b"], ["x", "y", "z"]).shape[0]
        3
    """
    if weights.ndim != 2:
        raise ValueError(f"attention_matrix: `weights` must be [L, S], got {tuple(weights.shape)}.")
    rows, cols = weights.shape
    labels = None if row_labels is None or col_labels is None else (row_labels, col_labels)
    if labels is not None and (len(labels[0]), len(labels[1])) != (rows, cols):
        raise ValueError(
            f"attention_matrix: got {len(labels[0])} row and {len(labels[1])} column labels "
            f"for weights of shape {tuple(weights.shape)}."
        )
    if cell is None:
        cell = LINE_HEIGHT if labels is not None else max(1, 192 // max(rows, cols))
    values = weights.detach().float()
    values = values / values.max().clamp(min=1e-12)
    heat = apply_colormap(values[None, None], colormap)[0]
    heat = heat.repeat_interleave(cell, dim=1).repeat_interleave(cell, dim=2)
    if labels is None:
        return heat
    left = _label_column(labels[0], cell, right=True)
    # Key labels read bottom to top, starting just above their column.
    top = torch.rot90(_label_column(labels[1], cell, right=False), 1, dims=(1, 2))
    corner = torch.ones(3, top.shape[1], left.shape[2])
    return torch.cat(
        [torch.cat([corner, top], dim=2), torch.cat([left, heat], dim=2)], dim=1
    ).clamp(0, 1)


def cls_attention_maps(weights: Tensor, grid: tuple[int, int], query: int = 0) -> Tensor:
    """The attention of one query token (the CLS token) over the image patches.

    Args:
        weights: ``[N, H, L, S]`` attention weights per sample and head.
        grid: ``(rows, cols)`` of the patch grid; the patches are the last ``rows * cols`` keys,
            in row-major order (tokens before them, such as CLS, are left out).
        query: the query position whose attention is drawn.

    Returns:
        ``[N, H, rows, cols]``.

    Example:
        >>> cls_attention_maps(torch.rand(2, 4, 17, 17), (4, 4)).shape
        torch.Size([2, 4, 4, 4])
    """
    rows, cols = grid
    patches = weights[:, :, query, weights.shape[-1] - rows * cols :]
    return patches.reshape(*weights.shape[:2], rows, cols)


def infer_patch_grid(num_keys: int, image_size: tuple[int, int]) -> tuple[int, int] | None:
    """``(rows, cols)`` of a patch grid for ``num_keys`` keys: a grid with the image's aspect
    ratio after one of :data:`PREFIX_TOKENS` prefix tokens; ``None`` when none fits.

    Example:
        >>> infer_patch_grid(17, (28, 28)), infer_patch_grid(21, (32, 32))
        ((4, 4), (4, 4))
    """
    height, width = image_size
    for prefix in PREFIX_TOKENS:
        patches = num_keys - prefix
        rows = round(math.sqrt(max(patches, 0) * height / width))
        cols = patches // rows if rows else 0
        # A grid of whole patches whose shape matches the image's to within one patch.
        if rows and rows * cols == patches and abs(cols * height - rows * width) < max(image_size):
            return rows, cols
    return None


def model_view(per_layer: Sequence[Tensor], names: Sequence[str], size: int = 64) -> Tensor:
    """Every layer and head of one sample in one picture (BertViz's model view): a row per
    layer, a thumbnail per head (each scaled by its maximum, ``size`` pixels a side).

    Args:
        per_layer: ``[H, L, S]`` per layer.
        names: the layers' names, one title line per row.
        size: pixels per thumbnail side.

    Returns:
        ``[3, H, W]`` float in [0, 1].

    Example:
        >>> model_view([torch.full((2, 3, 3), 1 / 3)] * 2, ["a", "b"], 16).shape[0]
        3
    """
    rows = []
    for weights, name in zip(per_layer, names, strict=True):
        tiles = [
            F.interpolate(attention_matrix(head)[None], size=(size, size), mode="nearest")[0]
            for head in weights
        ]
        rows.append(titled_row(tiles, [f"head {h}" for h in range(len(tiles))], name))
    width = max(row.shape[2] for row in rows)
    padded = [F.pad(row, (0, width - row.shape[2], 0, 4), value=1.0) for row in rows]
    return torch.cat(padded, dim=1)


def upsample_maps(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """``[N, H, r, c]`` maps to ``[N, H, *size]`` (bilinear)."""
    return F.interpolate(maps.float(), size=size, mode="bilinear", align_corners=False)


def _label_column(labels: Sequence[str], cell: int, right: bool) -> Tensor:
    """Labels stacked top to bottom, one per ``cell`` rows: ``[3, L*cell, W]``."""
    tiles = [text_tile(label) for label in labels]
    width = max(t.shape[1] for t in tiles)
    column = torch.ones(len(tiles) * cell, width)
    for k, tile in enumerate(tiles):
        height = min(cell, LINE_HEIGHT)
        top = k * cell + (cell - height) // 2
        start = width - tile.shape[1] if right else 0
        column[top : top + height, start : start + tile.shape[1]] = tile[:height]
    return column.expand(3, -1, -1)
