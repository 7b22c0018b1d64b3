"""AttributionMemory: each method's attribution at the first and at the latest recorded run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

__all__ = ["AttributionMemory"]


class AttributionMemory:
    """What metrics that look back (``drift``) compare with: per method key, the attribution
    of the first and of the previous run that recorded one (CPU tensors, kept in checkpoints).

    Example:
        >>> import torch
        >>> memory = AttributionMemory()
        >>> memory.record("ig", torch.ones(2, 3))
        >>> memory.record("ig", torch.zeros(2, 3))
        >>> float(memory.first["ig"].sum()), float(memory.previous["ig"].sum())
        (6.0, 0.0)
    """

    def __init__(self) -> None:
        self.previous: dict[str, Tensor] = {}
        self.first: dict[str, Tensor] = {}

    def record(self, key: str, attribution: Tensor) -> None:
        """Keeps ``attribution`` ``[N, ...]`` as method ``key``'s previous (and, the first
        time, its first) attribution."""
        cpu = attribution.detach().float().cpu()
        self.previous[key] = cpu
        self.first.setdefault(key, cpu)

    def state_dict(self) -> dict[str, Any]:
        return {"previous": dict(self.previous), "first": dict(self.first)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.previous = dict(state.get("previous", {}))
        self.first = dict(state.get("first", {}))
