"""Tokens as pictures: id -> string lookup, text tiles, and a coloured token strip per sentence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from lightning_xai.render.colormaps import apply_colormap

__all__ = [
    "LINE_HEIGHT",
    "Vocabulary",
    "check_vocabulary",
    "text_tile",
    "token_labels",
    "token_strip",
    "token_table",
]

Vocabulary = Sequence[str] | Mapping[int, str]
"""Token strings by id: a list (``vocabulary[id]``) or a mapping ``id -> token``."""

LINE_HEIGHT = 12
"""Height in pixels of one line of text (the default PIL font)."""
_PAD = 3
_MARK = 2  # height of the grey line under marked tokens


def check_vocabulary(vocabulary: object, pad_id: object) -> None:
    """Raises ``TypeError`` naming ``vocabulary`` or ``pad_id`` when they are not valid."""
    if vocabulary is not None:
        if isinstance(vocabulary, Mapping):
            valid = all(isinstance(k, int) and isinstance(v, str) for k, v in vocabulary.items())
        else:
            valid = (
                isinstance(vocabulary, Sequence)
                and not isinstance(vocabulary, str)
                and all(isinstance(v, str) for v in vocabulary)
            )
        if not valid:
            raise TypeError(
                f"`vocabulary` must be a list of token strings (index = id) or a "
                f"mapping id -> token string, got {type(vocabulary).__name__}."
            )
    if pad_id is not None and (not isinstance(pad_id, int) or isinstance(pad_id, bool)):
        raise TypeError(f"`pad_id` must be an int token id or None, got {pad_id!r}.")


def token_labels(ids: Tensor, vocabulary: Vocabulary | None = None) -> list[str]:
    """The strings of token ids ``[L]``; ids outside the vocabulary (or without one) as digits.

    Example:
        >>> token_labels(torch.tensor([2, 0, 7]), ["<pad>", "[CLS]", "good"])
        ['good', '<pad>', '7']
    """
    labels = []
    for i in ids.reshape(-1).tolist():
        if isinstance(vocabulary, Mapping):
            labels.append(vocabulary.get(i, str(i)))
        elif vocabulary is not None and 0 <= i < len(vocabulary):
            labels.append(vocabulary[i])
        else:
            labels.append(str(i))
    return labels


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


@lru_cache(maxsize=4096)
def _text_pixels(text: str) -> np.ndarray:
    font = _font()
    width = int(font.getbbox(text)[2]) if text else 0
    canvas = Image.new("L", (width + 2 * _PAD, LINE_HEIGHT), color=255)
    ImageDraw.Draw(canvas).text((_PAD, 0), text, fill=0, font=font)
    return np.asarray(canvas)


def text_tile(text: str, width: int | None = None) -> Tensor:
    """One line of dark text on white: ``[LINE_HEIGHT, W]`` float in [0, 1] (1 is white).

    Args:
        text: the line.
        width: crop or pad (white, on the right) to this many pixels; default: fit the text.
    """
    tile = torch.from_numpy(_text_pixels(text).copy()).float() / 255
    if width is None:
        return tile
    if tile.shape[1] >= width:
        return tile[:, :width]
    return torch.cat([tile, torch.ones(LINE_HEIGHT, width - tile.shape[1])], dim=1)


def token_strip(
    tokens: Sequence[str],
    values: Tensor,
    max_width: int = 640,
    title: str | None = None,
    marked: Sequence[bool] | None = None,
) -> Tensor:
    """Each token on a background coloured by its value, wrapped into lines.

    Colours follow the diverging attribution map (red negative, white zero, green positive).

    Args:
        tokens: ``L`` token strings.
        values: ``[L]`` values in [-1, 1] (e.g. attributions divided by their largest |value|).
        max_width: lines wrap before this many pixels.
        title: an optional first line (dark text on white).
        marked: ``L`` flags; marked tokens (special tokens such as ``[CLS]``) are underlined
            in grey.

    Returns:
        ``[3, H, W]`` float in [0, 1]; ``W <= max_width`` unless one token is wider.

    Example:
        >>> token_strip(["a", "good", "film"], torch.tensor([0.0, 1.0, -0.5])).shape[0]
        3
    """
    if values.shape != (len(tokens),) or (marked is not None and len(marked) != len(tokens)):
        raise ValueError(
            f"token_strip: `values` (and `marked`) must have one entry per token ({len(tokens)}), "
            f"got shape {tuple(values.shape)}."
        )
    colours = apply_colormap(
        ((values.float().clamp(-1, 1) + 1) / 2).reshape(1, 1, 1, -1), "diverging"
    )
    tiles = []
    for k, token in enumerate(tokens):
        text = text_tile(token).unsqueeze(0)  # 0 on the glyphs, 1 around them
        background = colours[0, :, 0, k].reshape(3, 1, 1)
        ink = 1.0 if float(background.mean()) < 0.45 else 0.0  # light text on dark colours
        tile = text * background + (1 - text) * ink
        if marked is not None:
            line = torch.full((3, _MARK, tile.shape[2]), 0.5 if marked[k] else 1.0)
            tile = torch.cat([tile, line], dim=1)
        tiles.append(tile)
    lines: list[list[Tensor]] = [[]]
    used = 0
    for tile in tiles:
        if lines[-1] and used + tile.shape[2] + 1 > max_width:
            lines.append([])
            used = 0
        lines[-1].append(tile)
        used += tile.shape[2] + 1
    rows = [_join(line) for line in lines]
    if title is not None:
        rows.insert(0, text_tile(title).expand(3, -1, -1))
    width = max(r.shape[2] for r in rows)
    padded = [torch.cat([r, torch.ones(3, r.shape[1], width - r.shape[2])], dim=2) for r in rows]
    gap = torch.ones(3, 2, width)
    parts = [part for row in padded for part in (row, gap)][:-1]
    return torch.cat(parts, dim=1).clamp(0, 1)


def token_table(tokens: Sequence[str], values: Tensor, marked: Sequence[bool] | None = None) -> str:
    """A Markdown table ``token | attribution | relative`` (TensorBoard's TEXT tab renders it):
    values in scientific notation, so that small ones are told apart, and relative to the
    largest |value| (the colour of the strip). Marked (special) tokens are in italics.

    Example:
        >>> print(token_table(["good", "[SEP]"], torch.tensor([0.5, -2e-5]), [False, True]))
        | token | attribution | relative |
        |---|---:|---:|
        | good | +5.000e-01 | +1.000 |
        | *[SEP]* | -2.000e-05 | -0.000 |
    """
    rows = ["| token | attribution | relative |", "|---|---:|---:|"]
    largest = float(values.abs().max()) if values.numel() else 0.0
    flags = marked if marked is not None else [False] * len(tokens)
    for token, value, mark in zip(tokens, values.tolist(), flags, strict=True):
        escaped = token.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        escaped = escaped.replace("*", "\\*")
        shown = f"*{escaped}*" if mark else escaped
        relative = value / largest if largest > 0 else 0.0
        rows.append(f"| {shown} | {value:+.3e} | {relative:+.3f} |")
    return "\n".join(rows)


def _join(tiles: list[Tensor]) -> Tensor:
    gap = torch.ones(3, tiles[0].shape[1], 1)
    parts = [part for tile in tiles for part in (tile, gap)][:-1]
    return torch.cat(parts, dim=2)
