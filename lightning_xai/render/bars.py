"""Bar charts drawn with tensor ops: one chart per row of values, labels under the bars."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

__all__ = ["bar_chart"]

_POSITIVE = (0.0, 0.5, 0.0)  # the ends of the "diverging" colormap: green for evidence for,
_NEGATIVE = (1.0, 0.0, 0.0)  # red for evidence against
_AXIS = 0.35
_LINE = 12
_MAX_LABEL = 112
_MIN_LABELLED_SLOT = 12


def bar_chart(
    values: Tensor,
    labels: Sequence[str] | None = None,
    height: int = 96,
    slot: int | None = None,
    signed: bool | None = None,
) -> Tensor:
    """One bar chart per row of ``values``, each scaled to its own largest ``|value|``.

    Positive bars are green and grow up from the zero line, negative ones red and grow down.
    Labels are written vertically under the bars when the bars are wide enough
    (at most ~64 bars); their pixels are rendered once per label and cached.

    Args:
        values: ``[N, U]`` values (``[U]`` is one chart).
        labels: ``U`` names for the bars, or ``None``.
        height: pixel height of the plot area (labels come below it).
        slot: pixels per bar including a gap; default fits the chart into ~480 pixels.
        signed: draw the zero line in the middle; default: when any value is negative.

    Returns:
        ``[N, 3, H, W]`` float in [0, 1] on the values' device, white background.

    Example:
        >>> bar_chart(torch.tensor([[1.0, -0.5, 0.25]]), ["a", "b", "c"]).shape[:2]
        torch.Size([1, 3])
    """
    if values.ndim == 1:
        values = values.unsqueeze(0)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(
            f"bar_chart: `values` must be [N, U] with U > 0, got shape {tuple(values.shape)}."
        )
    count, units = values.shape
    if labels is not None and len(labels) != units:
        raise ValueError(
            f"bar_chart: `labels` must name the {units} bars, got {len(labels)} names."
        )
    if slot is None:
        slot = max(3, min(28, 480 // units))
    show_labels = labels is not None and slot >= _MIN_LABELLED_SLOT
    device = values.device
    v = values.detach().float().nan_to_num(0.0)
    if signed is None:
        signed = bool((v < 0).any())
    scale = v.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
    norm = (v / scale).clamp(-1, 1)  # [N, U]
    margin = 4
    zero = margin + (height - 2 * margin) // 2 if signed else height - margin
    reach = (height - 2 * margin) // 2 if signed else height - 2 * margin
    end = zero - (norm * reach).round()  # bar end row per [N, U]
    top = torch.minimum(end, torch.full_like(end, zero))
    bottom = torch.maximum(end, torch.full_like(end, zero))
    rows = torch.arange(height, device=device, dtype=torch.float32).reshape(1, -1, 1)
    inside = (rows >= top[:, None, :]) & (rows <= bottom[:, None, :]) & (end != zero)[:, None, :]
    width = units * slot + 2 * margin
    column = torch.arange(width, device=device) - margin
    unit_of_column = (column // slot).clamp(0, units - 1)
    in_bar = (column >= 0) & (column < units * slot) & (column % slot < max(1, slot - 2))
    filled = inside[:, :, unit_of_column] & in_bar  # [N, H, W]
    positive = (norm > 0)[:, unit_of_column][:, None, :]  # [N, 1, W]
    colour_pos = torch.tensor(_POSITIVE, device=device).reshape(1, 3, 1, 1)
    colour_neg = torch.tensor(_NEGATIVE, device=device).reshape(1, 3, 1, 1)
    colour = torch.where(positive[:, None], colour_pos, colour_neg)  # [N, 3, 1, W]
    image = torch.where(filled[:, None], colour, torch.ones((), device=device))
    axis_columns = (column >= 0) & (column < units * slot)
    image[:, :, zero, axis_columns] = _AXIS
    if show_labels:
        strip = _label_strip(tuple(labels or ()), slot, margin).to(device)
        image = torch.cat([image, strip.expand(count, -1, -1, -1)], dim=2)
    return image.clamp(0, 1)


def _label_strip(labels: tuple[str, ...], slot: int, margin: int) -> Tensor:
    """``[1, 3, L, W]``: each label written bottom-to-top under its bar."""
    pictures = [_vertical_text(label) for label in labels]
    length = max(p.shape[0] for p in pictures)
    strip = torch.ones(length, len(labels) * slot + 2 * margin)
    for i, picture in enumerate(pictures):
        h, w = picture.shape
        left = margin + i * slot + max(0, (slot - 2 - w) // 2)
        w = min(w, strip.shape[1] - left)
        strip[:h, left : left + w] = picture[:, :w]
    return strip.expand(3, -1, -1).unsqueeze(0)


@lru_cache(maxsize=1024)
def _vertical_text(text: str) -> Tensor:
    font = ImageFont.load_default()
    text = text if len(text) <= 24 else text[:23] + "~"
    canvas = Image.new("L", (_MAX_LABEL, _LINE), color=255)
    draw = ImageDraw.Draw(canvas)
    draw.text((1, 0), text, fill=0, font=font)
    used = int(min(_MAX_LABEL, draw.textlength(text, font=font) + 3))
    rotated = canvas.crop((0, 0, used, _LINE)).rotate(90, expand=True)  # reads bottom to top
    return torch.from_numpy(np.asarray(rotated, dtype=np.float32) / 255.0)
