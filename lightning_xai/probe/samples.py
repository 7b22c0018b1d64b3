"""Reading probe samples: explicit samples and batches as model inputs, class-balanced choice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from lightning_xai.inputs import ModelInputs
from lightning_xai.probe.batches import unpack_keyed

__all__ = [
    "balanced_choice",
    "check_finite",
    "describe",
    "is_map_style",
    "read_batch",
    "split_samples",
    "take_labels",
]

_INPUT_KEYS = ("inputs", "input", "x", "image", "images", "pixel_values")
_LABEL_KEYS = ("labels", "label", "y", "target", "targets")


def balanced_choice(labels: Tensor | None, count: int, num: int) -> Tensor:
    """Positions ``[min(num, count)]`` of ``count`` candidates, round-robin over the classes.

    Candidates keep their given order within a class; without integer class labels ``[N]`` the
    first ``num`` positions are taken.
    """
    if labels is None or labels.ndim != 1 or labels.dtype.is_floating_point:
        return torch.arange(min(num, count))
    labels = labels.cpu()
    # Rank of each sample within its class (0 for the first of the class, 1 for the second...).
    _, inverse = torch.unique(labels, return_inverse=True)
    rank = torch.zeros_like(inverse)
    for cls in inverse.unique():
        members = (inverse == cls).nonzero().squeeze(1)
        rank[members] = torch.arange(members.numel())
    # Round-robin: all rank-0 samples ordered by class, then all rank-1 samples, and so on.
    key = rank * (int(inverse.max()) + 1) + inverse
    return torch.argsort(key, stable=True)[:num]


def split_samples(samples: Any, given: str = "samples") -> tuple[ModelInputs, Tensor | None]:
    """``x``, ``(inputs, labels)`` or ``(inputs, labels, additional_forward_args)`` as model
    inputs and labels (``inputs``: a tensor or a tuple of tensors). Explicit ``samples`` must
    be batches ``[N, ...]`` with labels as tensors; what ``batch_transform`` returns is read as
    leniently as batches are (labels that are not a tensor are dropped)."""
    if isinstance(samples, Tensor):
        samples = (samples, None)
    if not isinstance(samples, tuple) or len(samples) not in (2, 3):
        raise TypeError(
            f"`{given}` must give inputs, (inputs, labels) or (inputs, labels, "
            f"additional_forward_args), got {describe(samples)}."
        )
    inputs, labels, *rest = samples
    extra = rest[0] if rest and rest[0] is not None else ()
    if given != "samples" and not isinstance(labels, Tensor):
        labels = None
    tensors = (inputs,) if isinstance(inputs, Tensor) else inputs
    if (
        not isinstance(tensors, tuple | list)
        or not tensors
        or not all(isinstance(t, Tensor) for t in tensors)
    ):
        raise TypeError(
            f"`{given}` inputs must be a tensor or a tuple of tensors, got {describe(inputs)}."
        )
    if not isinstance(extra, tuple | list):
        extra = (extra,)
    if (
        any(t.ndim < 1 for t in tensors)
        or tensors[0].shape[0] == 0
        or (given == "samples" and tensors[0].ndim < 2)
    ):
        raise ValueError(
            f"`{given}` inputs must be a batch [N, ...] with N > 0, got shape {describe(inputs)}."
        )
    batch = ModelInputs.of(tuple(tensors), tuple(extra))
    if labels is not None and (
        not isinstance(labels, Tensor) or labels.ndim == 0 or labels.shape[0] != batch.size
    ):
        raise ValueError(
            f"`{given}` labels must be a tensor with one entry per input "
            f"({batch.size}), got {describe(labels)}."
        )
    batch.check()
    return batch, labels


def is_map_style(dataset: Any) -> bool:
    return (
        dataset is not None
        and not isinstance(dataset, torch.utils.data.IterableDataset)
        and hasattr(dataset, "__getitem__")
        and hasattr(dataset, "__len__")
    )


def describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"Tensor{tuple(value.shape)}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__}[{', '.join(describe(v) for v in value[:4])}]"
    if isinstance(value, Mapping):
        return f"dict with keys {list(value)[:8]}"
    return type(value).__name__


def read_batch(batch: Any) -> tuple[ModelInputs, Tensor | None]:
    """One batch of a usual form as ``(model inputs, labels_or_None)``: a tensor ``x``, a
    tuple/list ``(x, y, ...)`` or a dict with an input key (and a label key).

    Raises:
        TypeError: any other form; names ``batch_transform``.
    """
    if isinstance(batch, Tensor):
        return ModelInputs.of(batch), None
    if isinstance(batch, list | tuple) and batch and isinstance(batch[0], Tensor):
        label = batch[1] if len(batch) > 1 and isinstance(batch[1], Tensor) else None
        return ModelInputs.of(batch[0]), label
    if isinstance(batch, Mapping) and (keyed := unpack_keyed(batch)) is not None:
        y = next((batch[k] for k in _LABEL_KEYS if isinstance(batch.get(k), Tensor)), None)
        return keyed, y
    if isinstance(batch, Mapping):
        x = next((batch[k] for k in _INPUT_KEYS if isinstance(batch.get(k), Tensor)), None)
        if x is not None:
            y = next((batch[k] for k in _LABEL_KEYS if isinstance(batch.get(k), Tensor)), None)
            return ModelInputs.of(x), y
    raise TypeError(
        f"cannot read inputs from a validation batch of type {describe(batch)}. "
        "Supported: a tensor `x`, a tuple/list `(x, y, ...)`, or a dict with one of the keys "
        f"{list(_INPUT_KEYS)}. Pass `batch_transform=lambda batch: (inputs, labels_or_None)` "
        "for any other form (inputs: a tensor, or a tuple of tensors for a multi-input model)."
    )


def check_finite(batch: ModelInputs, indices: list[int], source: str) -> None:
    """Raises ``ValueError`` naming the samples of ``batch`` that hold NaN or inf."""
    bad: set[int] = set()
    for t in batch.tensors:
        if t.is_floating_point() and t.numel():
            rows = (~torch.isfinite(t.reshape(t.shape[0], -1))).any(dim=1).nonzero().flatten()
            bad.update(indices[i] for i in rows.tolist())
    if bad:
        raise ValueError(
            f"the probe samples at indices {sorted(bad)[:5]} of {source} hold NaN or inf "
            "values: nothing can be explained on them. Clean the data, or pass `probe=` indices "
            "of finite samples."
        )


def take_labels(labels: Tensor | None, index: Tensor) -> Tensor | None:
    return None if labels is None else labels[index.to(labels.device)]
