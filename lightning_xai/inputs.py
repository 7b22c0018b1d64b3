"""What a model is called with: one or several attributed tensors and Captum's
``additional_forward_args``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ModelInputs", "keyword_call"]


@dataclass(frozen=True)
class ModelInputs:
    """The arguments of one forward, ``model(*tensors, *extra)``, as Captum sees them.

    Attributes:
        tensors: the attributed inputs, each ``[N, ...]``; one for most models, several for
            multi-input models (``forward(image, tabular)``).
        extra: Captum's ``additional_forward_args``, passed after the tensors and not
            attributed: tensors are per sample ``[N, ...]`` (Captum's convention: it repeats
            them with the inputs), anything else is passed as it is (e.g. a flag).
        keys: for dict batches (Hugging Face's ``input_ids``, ``attention_mask``...): the
            keyword of each tensor, then of each extra; the model is called with keywords
            (see :func:`keyword_call`). Empty: positional.

    Example:
        >>> batch = ModelInputs((torch.zeros(4, 3), torch.ones(4, 2)), (torch.ones(4, 5), True))
        >>> batch.size, batch.multi, batch.take(torch.tensor([0, 1])).extra[0].shape
        (4, True, torch.Size([2, 5]))
    """

    tensors: tuple[Tensor, ...]
    extra: tuple[Any, ...] = ()
    keys: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        inputs: Tensor | Sequence[Tensor],
        extra: Sequence[Any] = (),
        keys: Sequence[str] = (),
    ) -> ModelInputs:
        """From a tensor or a tuple of tensors (and the additional forward args, and the
        keywords of a dict batch)."""
        tensors = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        return cls(tensors, tuple(extra), tuple(keys))

    # -- what it is ------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Samples ``N``."""
        return self.tensors[0].shape[0]

    @property
    def multi(self) -> bool:
        """Whether the model takes several attributed tensors."""
        return len(self.tensors) > 1

    @property
    def plain(self) -> bool:
        """One attributed tensor and no additional forward args: ``model(x)``."""
        return not self.multi and not self.extra

    @property
    def first(self) -> Tensor:
        """The first attributed tensor ``[N, ...]``."""
        return self.tensors[0]

    @property
    def captum_inputs(self) -> Tensor | tuple[Tensor, ...]:
        """``inputs=`` for Captum: the tensor itself for single-input models, else the tuple
        (Captum returns attributions of the same structure)."""
        return self.tensors if self.multi else self.tensors[0]

    @property
    def captum_extra(self) -> tuple[Any, ...] | None:
        """``additional_forward_args=`` for Captum (``None`` when there are none)."""
        return self.extra or None

    # -- new inputs from these ---------------------------------------------------------------
    def take(self, rows: Tensor) -> ModelInputs:
        """The samples ``rows`` of every tensor, additional forward args included."""
        return self.map(lambda t: t[rows.to(t.device)], extra=True)

    def head(self, count: int) -> ModelInputs:
        """The first ``count`` samples."""
        return self.take(torch.arange(min(count, self.size)))

    def map(self, fn: Callable[[Tensor], Tensor], extra: bool = False) -> ModelInputs:
        """``fn`` applied to each attributed tensor (and, with ``extra``, to each tensor
        among the additional forward args)."""
        more = tuple(fn(a) if extra and isinstance(a, Tensor) else a for a in self.extra)
        return ModelInputs(tuple(fn(t) for t in self.tensors), more, self.keys)

    def fresh_for(self, module: nn.Module) -> ModelInputs:
        """A copy (extras included) with floating tensors in the module's dtype (``bf16-true``)."""
        param = next(module.parameters(), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else None

        def fresh(t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(dtype=dtype, copy=True)
            return t.clone()

        return self.map(fresh, extra=True)

    def like(self, tensors: Sequence[Tensor]) -> ModelInputs:
        """Other attributed tensors (e.g. perturbed ones) with these additional forward args."""
        return ModelInputs(tuple(tensors), self.extra, self.keys)

    @staticmethod
    def grid_of(tensors: Sequence[Tensor], ndim: int) -> int:
        """Which input a layer map with ``ndim`` dimensions is drawn over: the first with as
        many dimensions, else the first."""
        return next((i for i, t in enumerate(tensors) if t.ndim == ndim), 0)

    def keyword(self, key: str) -> Tensor | None:
        """The tensor a dict batch gave under ``key`` (e.g. ``"attention_mask"``), else
        ``None``."""
        values = (*self.tensors, *self.extra)
        found = values[self.keys.index(key)] if key in self.keys else None
        return found if isinstance(found, Tensor) else None

    # -- use -------------------------------------------------------------------------------
    def __call__(self, model: Callable[..., Any]) -> Any:
        """``model(*tensors, *extra)``, or by keyword for a dict batch."""
        return keyword_call(model, (*self.tensors, *self.extra), self.keys)

    def names(self, model: nn.Module) -> list[str]:
        """A name per attributed tensor: its key in a dict batch, else the ``forward``
        parameter it binds to (``image``, ``tabular``), else ``input_<i>``."""
        if self.keys:
            return list(self.keys[: len(self.tensors)])
        try:
            params = list(inspect.signature(model.forward).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = [
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) >= len(self.tensors) and len(set(positional)) == len(positional):
            return positional[: len(self.tensors)]
        return [f"input_{i}" for i in range(len(self.tensors))]

    def check(self) -> None:
        """Raises ``ValueError`` unless every tensor (and per-sample extra) has ``N`` rows."""
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        sizes += [a.shape[0] if a.ndim else None for a in self.extra if isinstance(a, Tensor)]
        if any(s != self.size for s in sizes):
            raise ValueError(
                "the probe's inputs and `additional_forward_args` tensors must all have one "
                f"row per sample; got first dimensions {sizes}. Pass constants that "
                "are not per sample as non-tensor values (Captum repeats tensors with the inputs)."
            )


def keyword_call(model: Callable[..., Any], values: Sequence[Any], keys: Sequence[str]) -> Any:
    """``model(**dict(zip(keys, values)))`` for the keywords its ``forward`` takes (all of them
    when it takes ``**kwargs``), as a training step calls a Hugging Face model with a dict
    batch; positional when there are no keys or the model does not take the first by name.

    Example:
        >>> keyword_call(lambda input_ids, attention_mask=None: input_ids, [1, 2], ["input_ids",
        ...     "attention_mask", "token_type_ids"][:2])
        1
    """
    if not keys:
        return model(*values)
    try:
        params = inspect.signature(getattr(model, "forward", model)).parameters.values()
    except (TypeError, ValueError):
        return model(*values)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return model(**dict(zip(keys, values, strict=True)))
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if keys[0] not in named:
        return model(*values)
    return model(**{k: v for k, v in zip(keys, values, strict=True) if k in named})
