"""Similarity of attribution maps: ranks with ties, Spearman, cosine; drift and agreement."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["agreement", "cosine_similarity", "drift", "rank", "spearman"]


def rank(values: Tensor) -> Tensor:
    """Average ranks along the last dimension (ties share the mean of their ranks).

    Args:
        values: ``[..., D]``.

    Returns:
        ``[..., D]`` float ranks in ``[0, D - 1]``; tied values get the same rank.

    Example:
        >>> rank(torch.tensor([[3.0, 1.0, 3.0, 2.0]]))
        tensor([[2.5000, 0.0000, 2.5000, 1.0000]])
    """
    flat = values.reshape(-1, values.shape[-1])
    ordered, order = flat.sort(dim=1, stable=True)
    width = flat.shape[1]
    position = torch.arange(width, device=flat.device, dtype=torch.float64).expand_as(flat)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = starts.long().cumsum(dim=1) - 1
    sums = torch.zeros_like(position).scatter_add_(1, group, position)
    counts = torch.zeros_like(position).scatter_add_(1, group, torch.ones_like(position))
    mean = (sums / counts.clamp_min(1)).gather(1, group)
    ranks = torch.empty_like(mean).scatter_(1, order, mean)
    return ranks.to(values.dtype if values.is_floating_point() else torch.float32).reshape(
        values.shape
    )


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of each sample's features (ties get average ranks).

    A sample whose values are all equal has no ranking: two such samples score 1.0 (they agree
    that nothing stands out), one such sample against a ranked one scores 0.0. No NaN.

    Args:
        a: ``[N, ...]``.
        b: ``[N, ...]``, same number of elements per sample as ``a``.

    Returns:
        ``[N]`` in ``[-1, 1]``.

    Example:
        >>> spearman(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[10.0, 20.0, 25.0]]))
        tensor([1.])
    """
    ra = rank(a.detach().reshape(a.shape[0], -1).double())
    rb = rank(b.detach().reshape(b.shape[0], -1).double())
    return _pearson(ra, rb).float()


def cosine_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of each sample's flattened features.

    Two all-zero samples score 1.0, an all-zero sample against a non-zero one 0.0. No NaN.

    Args:
        a: ``[N, ...]``.
        b: ``[N, ...]``, same number of elements per sample as ``a``.

    Returns:
        ``[N]`` in ``[-1, 1]``.
    """
    fa = a.detach().reshape(a.shape[0], -1).double()
    fb = b.detach().reshape(b.shape[0], -1).double()
    na, nb = fa.norm(dim=1), fb.norm(dim=1)
    cos = (fa * fb).sum(dim=1) / (na * nb).clamp_min(torch.finfo(torch.float64).tiny)
    both_zero = (na == 0) & (nb == 0)
    cos = torch.where(both_zero, torch.ones_like(cos), cos)
    return cos.clamp(-1.0, 1.0).float()


def drift(current: Tensor, reference: Tensor) -> dict[str, Tensor]:
    """How much each sample's attribution moved since ``reference`` (an earlier run).

    Args:
        current: ``[N, ...]`` attributions now.
        reference: ``[N, ...]`` attributions of an earlier run, same shape.

    Returns:
        ``{"spearman": [N], "cosine": [N]}``; identical maps give 1.0 for both.
    """
    if current.shape != reference.shape:
        raise ValueError(
            f"drift: `reference` must have the shape of `current` {tuple(current.shape)}, "
            f"got {tuple(reference.shape)}."
        )
    return {
        "spearman": spearman(current, reference),
        "cosine": cosine_similarity(current, reference),
    }


def agreement(attributions: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Pairwise Spearman correlation of ``|attribution|`` between methods, per sample.

    Absolute values, because methods differ in sign conventions (``Saliency`` returns
    magnitudes, Grad-CAM keeps positive evidence). Maps of different channel counts (a layer
    method mapped to ``[N, 1, H, W]`` against ``[N, C, H, W]``) are compared per pixel, summed
    over channels.

    Args:
        attributions: method name -> ``[N, ...]`` attributions of the same probe.

    Returns:
        ``"<a>_vs_<b>"`` -> ``[N]`` for every pair in the given order.
    """
    names = list(attributions)
    result: dict[str, Tensor] = {}
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = attributions[first].abs(), attributions[second].abs()
            if a.shape != b.shape and a.ndim >= 3 and a.shape[2:] == b.shape[2:]:
                a, b = a.sum(dim=1), b.sum(dim=1)
            result[f"{first}_vs_{second}"] = spearman(a, b)
    return result


def _pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of rows; constant rows: both -> 1, one -> 0."""
    ca = a - a.mean(dim=1, keepdim=True)
    cb = b - b.mean(dim=1, keepdim=True)
    sa, sb = ca.norm(dim=1), cb.norm(dim=1)
    eps = 1e-12 * a.shape[1]
    flat_a, flat_b = sa <= eps, sb <= eps
    corr = (ca * cb).sum(dim=1) / (sa * sb).clamp_min(torch.finfo(a.dtype).tiny)
    corr = torch.where(flat_a | flat_b, torch.zeros_like(corr), corr)
    corr = torch.where(flat_a & flat_b, torch.ones_like(corr), corr)
    return corr.clamp(-1.0, 1.0)
