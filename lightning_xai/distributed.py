"""Sharding the probe over the ranks of a distributed run, and gathering the results."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["ProbeShard"]

_UNSUPPORTED = ("FSDP", "DeepSpeed")
Parts = Tensor | tuple[Tensor, ...]


class ProbeShard:
    """This rank's share of the probe, and the collective that puts the shares together.

    Every rank explains ``ceil(N / world)`` rows: its own contiguous block, padded by repeating
    the last probe row, so that all ranks do the same work in the same order and stay in step.
    :meth:`gather` is a collective: every rank must call it, in the same order, with its
    result or ``None`` when its part failed; then every rank gets the whole result or ``None``.
    With one process there is no collective and nothing is copied.

    Args:
        strategy: the Trainer's strategy (``trainer.strategy``); ``None`` for one process.
        rank, world: this rank and the number of ranks.

    Example:
        >>> shard = ProbeShard(None, rank=0, world=1)
        >>> shard.rows(5)
        tensor([0, 1, 2, 3, 4])
    """

    def __init__(self, strategy: Any, rank: int = 0, world: int = 1) -> None:
        self.strategy = strategy
        self.rank = rank
        self.world = world

    @classmethod
    def of(cls, trainer: Any) -> ProbeShard:
        """The shard of ``trainer``'s global rank."""
        return cls(trainer.strategy, trainer.global_rank, trainer.world_size)

    @staticmethod
    def unsupported(strategy: Any) -> str | None:
        """Why ``strategy`` cannot run a monitor (its module cannot be called on a shard
        alone), or ``None``."""
        name = type(strategy).__name__
        if not any(word.lower() in name.lower() for word in _UNSUPPORTED):
            return None
        return (
            f"the {name} strategy is not supported yet: its parameters are sharded, so one "
            "rank cannot run the model alone. Supported: single device, `ddp`, `ddp_spawn`, "
            "`ddp_fork`."
        )

    def rows(self, n: int) -> Tensor:
        """Indices ``[ceil(n / world)]`` of this rank's rows in a probe of ``n``."""
        per = -(-n // self.world)
        return (torch.arange(per) + self.rank * per).clamp(max=n - 1)

    def gather(self, part: Parts | None, n: int) -> Parts | None:
        """Every rank's ``part [ceil(n / world), ...]`` (or a tuple of such, one per input of
        a multi-input model) put together as ``[n, ...]``.

        Returns ``None`` on every rank when any rank passed ``None``.
        """
        if self.world == 1:
            return part
        device = self.strategy.root_device
        ok = self.strategy.all_gather(torch.tensor(part is not None, device=device))
        if part is None or not bool(ok.all()):
            return None
        if isinstance(part, tuple):
            return tuple(self._gather(p, n) for p in part)
        return self._gather(part, n)

    def _gather(self, part: Tensor, n: int) -> Tensor:
        everything = self.strategy.all_gather(part.to(self.strategy.root_device).contiguous())
        return everything.reshape(-1, *part.shape[1:])[:n].to(part.device)  # [world * per, ...]
