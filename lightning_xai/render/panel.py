"""Pictures side by side with a title strip: the per-sample panel of a monitor."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

__all__ = [
    "CARD_WIDTH",
    "fit_size",
    "hstack",
    "text_line",
    "text_strip",
    "title_size",
    "titled_row",
    "titled_rows",
]

CARD_WIDTH = 280
"""Pixels across an image card of TensorBoard's IMAGES tab: wider pictures are shrunk to it."""
_SEPARATOR = 2
_SIZE = 10  # the default font's size; a line is 4 pixels taller
_MIN_SIZE = 8
_MAX_SIZE = 48


def hstack(tiles: Sequence[Tensor], gap: int = _SEPARATOR, fill: float = 1.0) -> Tensor:
    """Tiles ``[3, H, W_i]`` side by side, separated by ``gap`` columns of ``fill``."""
    height = tiles[0].shape[1]
    spacer = torch.full((3, height, gap), fill, dtype=tiles[0].dtype, device=tiles[0].device)
    parts: list[Tensor] = []
    for i, tile in enumerate(tiles):
        parts.extend([spacer, tile] if i else [tile])
    return torch.cat(parts, dim=2)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def title_size(width: int) -> int:
    """Font size of a title across ``width`` pixels: 10, grown with pictures wider than
    :data:`CARD_WIDTH` so that the title still reads about 10 pixels high on the card."""
    return min(_MAX_SIZE, max(_SIZE, round(_SIZE * width / CARD_WIDTH)))


def fit_size(text: str, width: int, size: int = _SIZE) -> int:
    """The largest font size up to ``size`` (at least 8) at which ``text`` fits ``width``."""
    for smaller in range(size, _MIN_SIZE, -1):
        if _font(smaller).getlength(text) + 4 <= width:
            return smaller
    return _MIN_SIZE


@lru_cache(maxsize=1024)
def text_line(
    text: str, width: int, size: int = _SIZE, align: str = "left", fit: str | None = None
) -> np.ndarray:
    """One line of dark text on white, ``[size + 4, width]`` uint8 (255 is white).

    The text gets the largest font up to ``size`` (at least 8) that fits ``width``; beyond
    that it is cut. ``align`` is ``"left"``, ``"center"`` or ``"right"``; ``fit``: the text
    whose fit decides the font instead (lines of one size for texts of different lengths).
    """
    font = _font(fit_size(text if fit is None else fit, width, size))
    used = int(font.getlength(text))
    left = {"left": 2, "center": (width - used) // 2, "right": width - used - 2}[align]
    canvas = Image.new("L", (width, size + 4), color=255)
    top = (size + 4 - font.getbbox("Ag")[3]) // 2 + 1
    ImageDraw.Draw(canvas).text((max(2, left), top), text, fill=0, font=font)
    return np.asarray(canvas)


def text_strip(
    texts: Sequence[str], widths: Sequence[int], gap: int = _SEPARATOR, size: int = _SIZE
) -> Tensor:
    """One line of dark text on white per column: ``[3, size + 4, sum(widths) + gaps]`` in
    [0, 1]; each text fitted to its column (see :func:`text_line`)."""
    columns = [
        torch.from_numpy(text_line(t, w, size).copy()).float() / 255
        for t, w in zip(texts, widths, strict=True)
    ]
    row = hstack([c.expand(3, -1, -1) for c in columns], gap=gap)
    return row


def titled_row(tiles: Sequence[Tensor], headers: Sequence[str], title: str) -> Tensor:
    """A panel: ``title`` on top, a header above each tile, the tiles side by side.

    Args:
        tiles: ``[3, H, W_i]`` each, in [0, 1].
        headers: one short label per tile (cut to fit).
        title: one line across the panel. Title and headers get a font that grows with the
            panel's width (:func:`title_size`), headers as large as fits their tile.

    Returns:
        ``[3, H + 28 + title growth, sum(W_i) + gaps]`` in [0, 1].
    """
    row = hstack(tiles)
    widths = [t.shape[2] for t in tiles]
    size = title_size(row.shape[2])
    header = text_strip(headers, widths, size=size)
    top = text_strip([title], [row.shape[2]], gap=0, size=size)
    return torch.cat([top, header.to(row), row], dim=1).clamp(0, 1)


def titled_rows(tiles: Sequence[Tensor], headers: Sequence[str], titles: Sequence[str]) -> Tensor:
    """:func:`titled_row` for a whole batch in a few tensor ops (one per part, not per sample).

    Args:
        tiles: ``[N, 3, H, W_i]`` each, all uint8 or all float in [0, 1].
        headers: one short label per tile.
        titles: one line per sample.

    Returns:
        ``[N, 3, H + 28 + title growth, sum(W_i) + gaps]`` in the tiles' dtype.

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
    size = title_size(width)
    header = text_strip(headers, [t.shape[3] for t in tiles], size=size)
    header = (header * 255).round() if dtype == torch.uint8 else header
    top = torch.from_numpy(np.stack([text_line(t, width, size) for t in titles]))
    top = top[:, None].expand(-1, 3, -1, -1)
    top = top.to(dtype) if dtype == torch.uint8 else top.to(dtype) / 255
    return torch.cat([top, header.to(dtype).expand(n, -1, -1, -1), row], dim=2)
