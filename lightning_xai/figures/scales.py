"""Colour scales held across runs, per method and probe sample, so that an explanation's
growth and fading show on the step slider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["SCALES", "HeldScales"]

SCALES = ("sample", "fixed", "max")
"""``"sample"``: each map scaled to itself (every run at full contrast); ``"fixed"``: the scale
of the first run with a non-zero map, kept (growth saturates, fading pales); ``"max"``: the
largest scale so far (nothing saturates; fading pales)."""


class HeldScales:
    """The colour scale of every map, by tag, held across runs (checkpointed).

    Args:
        mode: one of :data:`SCALES`.

    Example:
        >>> held = HeldScales("fixed")
        >>> held.hold({"saliency": torch.tensor([2.0])})["saliency"]
        tensor([2.])
        >>> held.hold({"saliency": torch.tensor([4.0])})["saliency"]
        tensor([2.])
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._held: dict[str, Tensor] = {}

    @property
    def active(self) -> bool:
        """Whether scales are held (any mode but ``"sample"``)."""
        return self.mode != "sample"

    def hold(self, current: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Merges this run's scales ``[N]`` by tag into the held ones and returns those
        (``N`` may be below the first run's, when a time budget cuts the probe)."""
        out = {}
        for tag, scale in current.items():
            scale = scale.detach().float().cpu()
            held = self._held.get(tag, torch.zeros(0))
            n = scale.shape[0]
            if held.shape[0] < n:  # samples never seen take this run's scale
                held = torch.cat([held, torch.zeros(n - held.shape[0])])
            if self.mode == "max":
                merged = torch.maximum(held[:n], scale)
            else:
                merged = torch.where(held[:n] > 0, held[:n], scale)
            held = torch.cat([merged, held[n:]])
            self._held[tag] = held
            out[tag] = merged
        return out

    def state_dict(self) -> dict[str, Any]:
        return {tag: held.clone() for tag, held in self._held.items()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        self._held = {tag: torch.as_tensor(held).float().clone() for tag, held in state.items()}
