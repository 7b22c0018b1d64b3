"""Batches as Hugging Face pipelines make them: dict batches read by their keys, and batches
padded to different lengths (``DataCollatorWithPadding`` pads each batch to its own longest
sample) put together at one common length.

Example:
    >>> a = {"input_ids": torch.tensor([[5, 6, 0]]), "attention_mask": torch.tensor([[1, 1, 0]])}
    >>> b = {"input_ids": torch.tensor([[7, 8]]), "attention_mask": torch.tensor([[1, 1]])}
    >>> batch, _ = concat_padded([(unpack_keyed(a), None), (unpack_keyed(b), None)], None)
    >>> batch.first.tolist(), batch.keys
    ([[5, 6, 0], [7, 8, 0]], ('input_ids', 'attention_mask'))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_xai.inputs import ModelInputs

__all__ = ["concat_padded", "trim_padding", "unpack_keyed"]

ATTRIBUTED_KEYS = ("input_ids", "pixel_values")
"""Keys of a dict batch that hold the input to explain (the first one present)."""
EXTRA_KEYS = ("attention_mask", "token_type_ids")
"""Keys passed to the model by keyword beside it, not explained."""
_FILL = {"attention_mask": 0, "token_type_ids": 0}
_IGNORE_INDEX = -100  # Hugging Face's label of positions without a loss


def unpack_keyed(batch: Mapping[str, object]) -> ModelInputs | None:
    """The model inputs of a Hugging Face dict batch: ``input_ids`` (or ``pixel_values``)
    explained, ``attention_mask`` and ``token_type_ids`` passed as they are, all by keyword;
    ``None`` when the batch has none of :data:`ATTRIBUTED_KEYS`."""
    key = next((k for k in ATTRIBUTED_KEYS if isinstance(batch.get(k), Tensor)), None)
    if key is None:
        return None
    extras = [k for k in EXTRA_KEYS if isinstance(batch.get(k), Tensor)]
    return ModelInputs.of(batch[key], [batch[k] for k in extras], [key, *extras])  # type: ignore[arg-type]


def concat_padded(
    parts: Sequence[tuple[ModelInputs, Tensor | None]], pad_id: int | None
) -> tuple[ModelInputs, Tensor | None]:
    """Batches put together; sequences ``[N, L, ...]`` of different lengths are first padded
    to the longest, on the side the data is padded on (left when an ``attention_mask`` starts
    with padding), with ``pad_id`` for token ids (default: the id the data pads with, else 0),
    0 for masks and other inputs, and -100 for integer labels. Non-tensor additional args are
    taken from the first batch.

    Raises:
        ValueError: tensors differ in a dimension other than the length (dimension 1).
    """
    first = parts[0][0]
    left = any(_left_padded(p[0]) for p in parts)
    keys = first.keys or ("",) * (len(first.tensors) + len(first.extra))
    fills = [_FILL.get(k, 0) for k in keys]
    pad = pad_id if pad_id is not None else _data_pad_id(parts)
    fills = [pad if (k == "input_ids" or (not k and i < len(first.tensors))) else f
             for i, (k, f) in enumerate(zip(keys, fills, strict=True))]  # fmt: skip
    tensors = [
        _cat([p[0].tensors[i] for p in parts], fills[i], left) for i in range(len(first.tensors))
    ]
    offset = len(first.tensors)
    extra = [
        _cat([p[0].extra[i] for p in parts], fills[offset + i], left)
        if isinstance(a, Tensor)
        else a
        for i, a in enumerate(first.extra)
    ]
    labels = None
    if all(p[1] is not None for p in parts):
        found = [p[1] for p in parts if p[1] is not None]
        labels = _cat(found, 0 if found[0].is_floating_point() else _IGNORE_INDEX, left)
    return ModelInputs.of(tuple(tensors), extra, first.keys), labels


def trim_padding(batch: ModelInputs, labels: Tensor | None) -> tuple[ModelInputs, Tensor | None]:
    """Positions that are padding in every sample (``attention_mask`` 0 in every row) cut
    from the sequences ``[N, L, ...]``: a probe is as long as its longest sample."""
    mask = batch.keyword("attention_mask")
    if mask is None or mask.ndim != 2 or bool(mask.any(dim=0).all()):
        return batch, labels
    used = mask.any(dim=0).nonzero().squeeze(1)
    if used.numel() == 0:
        return batch, labels
    start, stop, length = int(used.min()), int(used.max()) + 1, mask.shape[1]

    def cut(t: Tensor) -> Tensor:
        return t[:, start:stop] if t.ndim >= 2 and t.shape[1] == length else t

    return batch.map(cut, extra=True), None if labels is None else cut(labels)


def _left_padded(batch: ModelInputs) -> bool:
    mask = batch.keyword("attention_mask")
    return mask is not None and mask.ndim == 2 and bool((mask[:, 0] == 0).any())


def _data_pad_id(parts: Sequence[tuple[ModelInputs, Tensor | None]]) -> int:
    """The token id the data puts where ``attention_mask`` is 0 (the most common), else 0."""
    found = []
    for batch, _ in parts:
        ids, mask = batch.keyword("input_ids"), batch.keyword("attention_mask")
        if ids is not None and mask is not None and ids.shape == mask.shape:
            found.append(ids[mask == 0])
    padding = torch.cat(found) if found else torch.empty(0, dtype=torch.long)
    return int(padding.mode().values) if padding.numel() else 0


def _cat(tensors: list[Tensor], fill: int | float, left: bool) -> Tensor:
    shapes = {tuple(t.shape[1:]) for t in tensors}
    if len(shapes) == 1:
        return torch.cat(tensors)
    if any(t.ndim < 2 for t in tensors) or len({t.shape[2:] for t in tensors}) > 1:
        raise ValueError(
            f"Probe: the validation batches hold tensors of shapes {sorted(shapes)} after the "
            "batch dimension; only the length (dimension 1) of a padded sequence may differ "
            "between batches."
        )
    longest = max(t.shape[1] for t in tensors)
    padded = []
    for t in tensors:
        missing = longest - t.shape[1]
        widths = [0, 0] * (t.ndim - 2) + ([missing, 0] if left else [0, missing])
        padded.append(F.pad(t, widths, value=fill) if missing else t)
    return torch.cat(padded)
