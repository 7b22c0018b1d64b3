"""How focused attention is: the entropy of attention distributions (a pure tensor function)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["attention_entropy"]


def attention_entropy(weights: Tensor) -> Tensor:
    """Mean entropy (nats) of each head's attention distributions.

    0 when every query attends to one key; ``log(S)`` when attention is uniform over ``S`` keys.
    Masked keys (weight 0) add nothing.

    Args:
        weights: ``[N, H, L, S]`` attention weights; each ``[L]`` row sums to 1 over ``S``.

    Returns:
        ``[H]``: the entropy averaged over samples and query positions, per head.

    Example:
        >>> attention_entropy(torch.full((1, 2, 3, 4), 0.25))
        tensor([1.3863, 1.3863])
    """
    if weights.ndim != 4:
        raise ValueError(
            f"attention_entropy: `weights` must be [N, H, L, S], got {tuple(weights.shape)}."
        )
    p = weights.detach().float()
    per_row = -torch.special.xlogy(p, p).sum(dim=-1)  # [N, H, L]
    return per_row.mean(dim=(0, 2))
