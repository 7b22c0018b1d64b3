"""The probe: a fixed, seeded set of validation samples explained at every run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_xai.inputs import ModelInputs
from lightning_xai.probe.batches import concat_padded, trim_padding
from lightning_xai.probe.samples import (
    balanced_choice,
    check_finite,
    describe,
    is_map_style,
    read_batch,
    split_samples,
    take_labels,
)
from lightning_xai.validators import check_count

__all__ = ["BatchTransform", "Probe", "ProbeSamples"]

BatchTransform = Callable[[Any], tuple]
"""Turns one batch of the user's data into ``(inputs, labels_or_None)`` or ``(inputs,
labels_or_None, additional_forward_args)``; ``inputs`` is a tensor, or a tuple of tensors for
a multi-input model."""
ProbeSamples = Tensor | tuple | Sequence[int]
"""Explicit probe samples: inputs, ``(inputs, labels)``, ``(inputs, labels,
additional_forward_args)`` or dataset indices."""

_SCAN_CHUNK = 64


class Probe:
    """Fixed samples that a monitor explains at every run.

    The samples are chosen once, deterministically: ``num_probes`` validation samples drawn with
    ``seed``, class-balanced (round-robin over the classes) when the labels are integer class ids.
    They can also be given explicitly. The probe lives on the training device and is saved in the
    callback's checkpoint state, so a resumed run explains the same samples.

    Hugging Face dict batches are read as they are: ``input_ids`` (or ``pixel_values``)
    explained, ``attention_mask`` and ``token_type_ids`` passed by keyword, ``labels`` the
    labels. Batches padded to different lengths (``DataCollatorWithPadding``) are padded to a
    common length first (``pad_id`` for token ids: set by the monitor from the tokenizer or the
    model's config, else the id the data pads with), and the chosen samples cut to their
    longest; the attention mask keeps each sample's length (:attr:`lengths`).

    Multi-input models (``forward(image, tabular)``) and models with further arguments that are
    not explained (Captum's ``additional_forward_args``, e.g. an attention mask) get their
    inputs from ``batch_transform`` returning ``((image, tabular), labels)`` or
    ``(inputs, labels, (mask,))``, or from explicit ``samples`` of the same forms.

    Args:
        num_probes: how many samples to select from the validation data.
        seed: seed of the selection (independent of the training's random stream).
        samples: explicit samples instead of a selection: a tensor of inputs ``[N, ...]``,
            ``(inputs, labels)``, ``(inputs, labels, additional_forward_args)`` (``inputs`` a
            tensor or a tuple of tensors, ``labels`` ``[N]`` or ``None``), or a sequence of
            validation-dataset indices.
        batch_transform: callable turning one batch into ``(inputs, labels_or_None)`` or
            ``(inputs, labels_or_None, additional_forward_args)``, for batches that are neither
            ``x``, ``(x, y, ...)`` nor a dict with common keys, and for multi-input models.
        scan_limit: at most this many validation samples are read to choose from.

    Example:
        >>> probe = Probe(num_probes=4, samples=torch.zeros(4, 1, 8, 8))
        >>> probe.inputs.shape
        torch.Size([4, 1, 8, 8])
    """

    def __init__(
        self,
        num_probes: int = 16,
        seed: int = 0,
        samples: ProbeSamples | None = None,
        batch_transform: BatchTransform | None = None,
        scan_limit: int = 2048,
    ) -> None:
        check_count("num_probes", num_probes)
        check_count("scan_limit", scan_limit)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"`seed` must be an int, got {type(seed).__name__}.")
        if batch_transform is not None and not callable(batch_transform):
            raise TypeError(
                "`batch_transform` must be a callable batch -> (inputs, labels_or_None), "
                f"got {type(batch_transform).__name__}."
            )
        self.num_probes = num_probes
        self.seed = seed
        self.batch_transform = batch_transform
        self.scan_limit = scan_limit
        self._indices: list[int] | None = None
        self._batch: ModelInputs | None = None
        self._labels: Tensor | None = None
        self.pad_id: int | None = None
        if isinstance(samples, Tensor | tuple):
            batch, labels = split_samples(samples)
            check_finite(batch, list(range(batch.size)), "`probe`")
            self._set(batch, labels, list(range(batch.size)))
        elif samples is not None:
            if not isinstance(samples, Sequence) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in samples
            ):
                raise TypeError(
                    "`samples` must be a tensor of inputs, a pair (inputs, labels) or a "
                    f"sequence of dataset indices, got {type(samples).__name__}."
                )
            if len(samples) == 0:
                raise ValueError("`samples` is an empty sequence of indices.")
            self._indices = list(samples)

    # -- what the monitors read ------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether the samples are chosen and loaded."""
        return self._batch is not None

    @property
    def batch(self) -> ModelInputs:
        """Everything the model is called with: the attributed tensors ``[N, ...]`` and the
        additional forward args, on the training device."""
        if self._batch is None:
            raise RuntimeError("Probe: the samples are not selected yet.")
        return self._batch

    @property
    def inputs(self) -> Tensor:
        """Probe inputs ``[N, ...]`` on the training device (the first of a multi-input
        model's inputs; see :attr:`batch` for all)."""
        return self.batch.first

    @property
    def size(self) -> int:
        """Samples in the probe (before selection: the indices given, else ``num_probes``)."""
        if self._batch is not None:
            return self._batch.size
        return len(self._indices) if self._indices else self.num_probes

    @property
    def labels(self) -> Tensor | None:
        """Labels ``[N]`` (or ``[N, ...]``) when the data has them, else ``None``."""
        return self._labels

    @property
    def lengths(self) -> Tensor | None:
        """Tokens per sample ``[N]`` (the ``attention_mask`` summed) for dict batches that
        have one, else ``None``."""
        mask = None if self._batch is None else self._batch.keyword("attention_mask")
        return None if mask is None or mask.ndim != 2 else mask.sum(dim=1)

    @property
    def indices(self) -> list[int]:
        """Dataset indices of the samples (positions in the scan for iterable datasets)."""
        return list(self._indices or [])

    def to(self, device: torch.device | str) -> Probe:
        """Moves the samples to ``device`` (no copy when they are there already)."""
        if self._batch is not None:
            self._batch = self._batch.map(lambda t: t.to(device), extra=True)
            self._labels = None if self._labels is None else self._labels.to(device)
        return self

    # -- selection -------------------------------------------------------------------------
    def unpack(self, batch: Any) -> tuple[ModelInputs, Tensor | None]:
        """Splits one batch into ``(model inputs, labels_or_None)``.

        Raises:
            TypeError: the batch has a form this probe cannot read; names ``batch_transform``.
        """
        if self.batch_transform is not None:
            out = self.batch_transform(batch)
            try:
                return split_samples(out, given="batch_transform")
            except (TypeError, ValueError) as err:
                raise type(err)(
                    f"{err} `batch_transform` must return (inputs, labels_or_None) or (inputs, "
                    "labels_or_None, additional_forward_args), inputs a tensor or a tuple of "
                    f"tensors; it returned {describe(out)}."
                ) from None
        return read_batch(batch)

    def select(self, dataloader: Iterable[Any], device: torch.device | str) -> None:
        """Chooses and loads the samples from a validation dataloader, once.

        Map-style datasets are read directly (independent of the sampler, so every rank picks
        the same samples); other loaders are iterated. Call under ``torch.inference_mode(False)``
        and a forked RNG: reading data may draw random numbers.
        """
        if self._batch is None:
            dataset = getattr(dataloader, "dataset", None)
            collate = getattr(dataloader, "collate_fn", None)
            if is_map_style(dataset) and collate is not None:
                batch, labels, indices = self._select_from_dataset(dataset, collate)
            else:
                batch, labels, indices = self._select_from_batches(dataloader)
            check_finite(batch, indices, "the validation data")
            self._set(batch, labels, indices)
        self.to(device)

    def _select_from_dataset(
        self, dataset: Any, collate: Callable[[list[Any]], Any]
    ) -> tuple[ModelInputs, Tensor | None, list[int]]:
        size = len(dataset)
        if self._indices is not None:
            bad = [i for i in self._indices if not -size <= i < size]
            if bad:
                raise ValueError(
                    f"`samples` holds indices {bad[:5]} outside the validation dataset "
                    f"of {size} samples."
                )
            batch, labels = self._load(dataset, collate, self._indices)
            return *trim_padding(batch, labels), self._indices
        if size == 0:
            raise ValueError("the validation dataset is empty; nothing to explain.")
        self._check_enough(size)
        order = torch.randperm(size, generator=torch.Generator().manual_seed(self.seed))
        scanned = order[: self.scan_limit].tolist()
        batch, labels = self._load(dataset, collate, scanned)
        chosen = balanced_choice(labels, len(scanned), self.num_probes)
        batch, labels = trim_padding(batch.take(chosen), take_labels(labels, chosen))
        return batch, labels, [scanned[i] for i in chosen.tolist()]

    def _load(
        self, dataset: Any, collate: Callable[[list[Any]], Any], indices: list[int]
    ) -> tuple[ModelInputs, Tensor | None]:
        parts = [
            self.unpack(collate([dataset[i] for i in indices[s : s + _SCAN_CHUNK]]))
            for s in range(0, len(indices), _SCAN_CHUNK)
        ]
        return concat_padded(parts, self.pad_id)

    def _select_from_batches(
        self, dataloader: Iterable[Any]
    ) -> tuple[ModelInputs, Tensor | None, list[int]]:
        parts: list[tuple[ModelInputs, Tensor | None]] = []
        seen = 0
        for batch in dataloader:
            parts.append(self.unpack(batch))
            seen += parts[-1][0].size
            if seen >= self.scan_limit:
                break
        if not parts:
            raise ValueError("the validation dataloader yielded no batch; nothing to explain.")
        batch, labels = concat_padded(parts, self.pad_id)
        if self._indices is not None:
            chosen = torch.tensor(self._indices)
            if int(chosen.max()) >= batch.size:
                raise ValueError(
                    f"`samples` index {int(chosen.max())} is beyond the {batch.size} "
                    "samples read from the (iterable) validation data."
                )
        else:
            self._check_enough(batch.size)
            order = torch.randperm(batch.size, generator=torch.Generator().manual_seed(self.seed))
            chosen = order[balanced_choice(take_labels(labels, order), len(order), self.num_probes)]
        batch, labels = trim_padding(batch.take(chosen), take_labels(labels, chosen))
        return batch, labels, chosen.tolist()

    def _check_enough(self, available: int) -> None:
        if available < self.num_probes:
            raise ValueError(
                f"`num_probes` is {self.num_probes}, but the validation data has only "
                f"{available} samples; ask for at most {available}."
            )

    def _set(self, batch: ModelInputs, labels: Tensor | None, indices: list[int]) -> None:
        batch.check()
        # Own copies, detached and outside inference mode, so autograd can use them later.
        with torch.inference_mode(False):
            self._batch = batch.map(lambda t: t.detach().clone(), extra=True)
            self._labels = None if labels is None else labels.detach().clone()
        self._indices = indices

    # -- checkpoint state ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain types only (safe for ``torch.load(weights_only=True)``, as long
        as the additional forward args are tensors and plain values)."""
        if self._batch is None:
            return {"indices": self._indices}
        cpu = self._batch.map(lambda t: t.detach().cpu(), extra=True)
        return {
            "inputs": cpu.captum_inputs,
            "labels": None if self._labels is None else self._labels.detach().cpu(),
            "indices": self._indices,
            **({"additional_forward_args": cpu.extra} if cpu.extra else {}),
            **({"keys": list(cpu.keys)} if cpu.keys else {}),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores the samples saved by :meth:`state_dict`."""
        if state.get("inputs") is not None:
            extra = state.get("additional_forward_args", ())
            batch = ModelInputs.of(state["inputs"], extra, state.get("keys", ()))
            self._set(batch, state.get("labels"), list(state.get("indices") or []))
        elif state.get("indices") is not None:
            self._indices = list(state["indices"])
