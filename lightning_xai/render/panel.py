"""Pictures side by side with a title strip: the per-sample panel of a monitor."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

__all__ = ["hstack", "text_strip", "titled_row", "titled_rows"]

_SEPARATOR = 2
_LINE = 14


def hstack(tiles: Sequence[Tensor], gap: int = _SEPARATOR, fill: float = 1.0) -> Tensor:
    """Tiles ``[3, H, W_i]`` side by side, separated by ``gap`` columns of ``fill``."""
    height = tiles[0].shape[1]
    spacer = torch.full((3, height, gap), fill, dtype=tiles[0].dtype, device=tiles[0].device)
    parts: list[Tensor] = []
    for i, tile in enumerate(tiles):
        parts.extend([spacer, tile] if i else [tile])
    return torch.cat(parts, dim=2)


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


@lru_cache(maxsize=512)
def _text_image(text: str, width: int) -> np.ndarray:
    canvas = Image.new("L", (width, _LINE), color=255)
    ImageDraw.Draw(canvas).text((2, 1), text, fill=0, font=_font())
    return np.asarray(canvas)


def text_strip(texts: Sequence[str], widths: Sequence[int], gap: int = _SEPARATOR) -> Tensor:
    """One line of dark text on white per column: ``[3, 14, sum(widths) + gaps]`` in [0, 1]."""
    columns = [
        torch.from_numpy(_text_image(t, w).copy()).float() / 255
        for t, w in zip(texts, widths, strict=True)
    ]
    row = hstack([c.expand(3, -1, -1) for c in columns], gap=gap)
    return row


def titled_row(tiles: Sequence[Tensor], headers: Sequence[str], title: str) -> Tensor:
    """A panel: ``title`` on top, a header above each tile, the tiles side by side.

    Args:
        tiles: ``[3, H, W_i]`` each, in [0, 1].
        headers: one short label per tile (cut to fit).
        title: one line across the panel.

    Returns:
        ``[3, H + 28, sum(W_i) + gaps]`` in [0, 1].
    """
    row = hstack(tiles)
    widths = [t.shape[2] for t in tiles]
    header = text_strip(headers, widths)
    top = text_strip([title], [row.shape[2]], gap=0)
    return torch.cat([top, header.to(row), row], dim=1).clamp(0, 1)


def titled_rows(tiles: Sequence[Tensor], headers: Sequence[str], titles: Sequence[str]) -> Tensor:
    """:func:`titled_row` for a whole batch in a few tensor ops (one per part, not per sample).

    Args:
        tiles: ``[N, 3, H, W_i]`` each, all uint8 or all float in [0, 1].
        headers: one short label per tile.
        titles: one line per sample.

    Returns:
        ``[N, 3, H + 28, sum(W_i) + gaps]`` in the tiles' dtype.

    Example:
        >>> rows = titled_rows([torch.zeros(2, 3, 8, 8, dtype=torch.uint8)] * 2, ["a", "b"],
        ...                    ["#0", "#1"])
        >>> rows.shape, rows.dtype
        (torch.Size([2, 3, 36, 18]), torch.uint8)
    """
    n, _, height, _ = tiles[0].shape
    dtype = tiles[0].dtype
    scale = 255 if dtype == torch.uint8 else 1
    spacer = torch.full((n, 3, height, _SEPARATOR), scale, dtype=dtype)
    parts: list[Tensor] = []
    for i, tile in enumerate(tiles):
        parts.extend([spacer, tile] if i else [tile])
    row = torch.cat(parts, dim=3)
    width = row.shape[3]
    header = text_strip(headers, [t.shape[3] for t in tiles])
    header = (header * 255).round() if dtype == torch.uint8 else header
    top = torch.from_numpy(np.stack([_text_image(t, width) for t in titles]))
    top = top[:, None].expand(-1, 3, -1, -1)
    top = top.to(dtype) if dtype == torch.uint8 else top.to(dtype) / 255
    return torch.cat([top, header.to(dtype).expand(n, -1, -1, -1), row], dim=2)
