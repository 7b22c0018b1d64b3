"""How concentrated an attribution is: sparseness (Gini index) and complexity (entropy).

Both read only the attribution (no forward pass). An all-zero attribution is treated as a
uniform one, the only reading under which both are defined: Gini 0, entropy ``log D``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["complexity", "sparseness"]


def sparseness(attributions: Tensor) -> Tensor:
    """Gini index of ``|attribution|`` per sample (Chalasani et al. 2020; Hurley & Rickard 2009).

    ``G = sum_k (2k - D - 1) a_(k) / (D sum_k a_(k))`` with ``a_(1) <= ... <= a_(D)`` the sorted
    magnitudes: 0 when all features are equal (and for an all-zero map), ``1 - 1/D`` when one
    feature carries everything. Higher is sparser.

    Args:
        attributions: ``[N, ...]``; features are all elements of a sample.

    Returns:
        ``[N]`` in ``[0, 1 - 1/D]``.

    Example:
        >>> sparseness(torch.tensor([[0.0, 0.0, 0.0, 2.0], [1.0, -1.0, 1.0, 1.0]]))
        tensor([0.7500, 0.0000])
    """
    magnitudes = attributions.detach().reshape(attributions.shape[0], -1).abs().double()
    width = magnitudes.shape[1]
    ordered = magnitudes.sort(dim=1).values
    weights = 2 * torch.arange(1, width + 1, device=ordered.device, dtype=torch.float64)
    weights = weights - width - 1
    total = ordered.sum(dim=1)
    gini = (ordered * weights).sum(dim=1) / (width * total).clamp_min(torch.finfo(total.dtype).tiny)
    return torch.where(total > 0, gini, torch.zeros_like(gini)).float()


def complexity(attributions: Tensor) -> Tensor:
    """Entropy (nats) of the normalised ``|attribution|`` per sample (Bhatt et al. 2020).

    ``H = -sum_i p_i log p_i`` with ``p = |a| / sum |a|`` and ``0 log 0 = 0``: 0 when one feature
    carries everything, ``log D`` when all are equal (and for an all-zero map). Lower is simpler.

    Args:
        attributions: ``[N, ...]``; features are all elements of a sample.

    Returns:
        ``[N]`` in ``[0, log D]``.

    Example:
        >>> complexity(torch.tensor([[0.0, 0.0, 0.0, 2.0], [1.0, -1.0, 0.0, 0.0]]))
        tensor([0.0000, 0.6931])
    """
    magnitudes = attributions.detach().reshape(attributions.shape[0], -1).abs().double()
    total = magnitudes.sum(dim=1, keepdim=True)
    p = magnitudes / total.clamp_min(torch.finfo(total.dtype).tiny)
    entropy = -(p * torch.log(torch.where(p > 0, p, torch.ones_like(p)))).sum(dim=1)
    uniform = torch.full_like(entropy, math.log(magnitudes.shape[1]))
    # clamp: rounding may give -1e-16 for a one-hot map; + 0.0 turns -0.0 into 0.0
    return (torch.where(total.squeeze(1) > 0, entropy, uniform).clamp_min(0.0) + 0.0).float()
