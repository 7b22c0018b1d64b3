"""What a method returns, and the small operations every consumer applies to it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["Attribution", "each", "finite_float", "flattened"]

Attribution = Tensor | tuple[Tensor, ...]
"""An attribution ``[N, ...]``, or one per input of a multi-input model."""


def each(value: Attribution, fn: Callable[[Tensor], Tensor]) -> Attribution:
    """``fn`` of an attribution, or of each part of a multi-input attribution."""
    return tuple(fn(v) for v in value) if isinstance(value, tuple) else fn(value)


def finite_float(attribution: Tensor) -> Tensor:
    """The attribution detached, as float32; raises on NaN or inf."""
    attribution = attribution.detach().float()
    if not torch.isfinite(attribution).all():
        raise FloatingPointError("the attributions contain NaN or inf")
    return attribution


def flattened(attribution: Attribution) -> Tensor:
    """One tensor per attribution: a multi-input one flattened per sample, ``[N, D]``."""
    if isinstance(attribution, Tensor):
        return attribution
    return torch.cat([a.flatten(1) for a in attribution], dim=1)
