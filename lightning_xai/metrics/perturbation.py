"""Deletion and insertion AUC (RISE, Petsiuk et al. 2018): does the model follow the ranking?

Features are taken in order of attribution (highest first) in ``steps`` equal chunks. Deletion
replaces them by the baseline in the input (a faithful map makes the target probability fall
fast: lower is better); insertion puts them into the baseline (it rises fast: higher is better).
All ``(steps + 1) * N`` perturbed inputs go through the model as one batch (or in chunks of
``max_examples_per_batch``). The area under the curve of the target's probability over the
fraction of features taken is the trapezoid rule on ``steps + 1`` equally spaced points.

For image inputs ``[N, C, H, W]`` a feature is a pixel (all its channels), ranked by the
attribution summed over channels; otherwise a feature is one element of a sample. Ties are taken
in index order (a stable sort), so an all-zero map removes features in raster order: defined,
but no better than chance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["ACTIVATIONS", "deletion", "insertion", "perturbation_curve"]

ACTIVATIONS = ("auto", "softmax", "sigmoid", "none")
Baseline = float | Tensor | Callable[[Tensor], Tensor]


def deletion(
    forward_func: Callable[[Tensor], Tensor],
    inputs: Tensor,
    attributions: Tensor,
    target: Tensor | int | None = None,
    *,
    steps: int = 10,
    baseline: Baseline = 0.0,
    activation: str = "auto",
    max_examples_per_batch: int | None = None,
) -> Tensor:
    """Deletion AUC per sample: area under the target probability as top features are removed.

    Args:
        forward_func: the model, ``[M, ...] -> [M, K]`` (or ``[M]`` / ``[M, 1]``).
        inputs: ``[N, ...]`` probe inputs.
        attributions: ``[N, ...]`` like ``inputs`` (or ``[N, 1, H, W]`` for image inputs).
        target: class per sample ``[N]``, one class for all, or ``None`` for one output.
        steps: number of chunks; the curve has ``steps + 1`` points.
        baseline: value of a removed feature: a float, a tensor broadcastable to ``inputs``, or
            a callable ``inputs -> baseline``.
        activation: ``"auto"`` (softmax over ``K > 1`` outputs, sigmoid of one output),
            ``"softmax"``, ``"sigmoid"`` or ``"none"`` (the raw output).
        max_examples_per_batch: largest forward batch; ``None``: one batch.

    Returns:
        ``[N]``; lower is better.

    Example:
        >>> model = lambda x: x.flatten(1).sum(1, keepdim=True)
        >>> x = torch.tensor([[1.0, 2.0]])
        >>> # the curve: 3 (all in), 1 (feature 1 removed), 0 (both removed)
        >>> deletion(model, x, torch.tensor([[1.0, 2.0]]), steps=2, activation="none")
        tensor([1.2500])
    """
    curve = perturbation_curve(
        forward_func, inputs, attributions, target, "deletion", steps, baseline, activation,
        max_examples_per_batch,
    )  # fmt: skip
    return _trapezoid(curve)


def insertion(
    forward_func: Callable[[Tensor], Tensor],
    inputs: Tensor,
    attributions: Tensor,
    target: Tensor | int | None = None,
    *,
    steps: int = 10,
    baseline: Baseline = 0.0,
    activation: str = "auto",
    max_examples_per_batch: int | None = None,
) -> Tensor:
    """Insertion AUC per sample: area under the target probability as top features are added
    to the baseline. Arguments as :func:`deletion`; higher is better.

    Example:
        >>> model = lambda x: x.flatten(1).sum(1, keepdim=True)
        >>> x = torch.tensor([[1.0, 2.0]])
        >>> # the curve: 0 (baseline), 2 (feature 1 added), 3 (both added)
        >>> insertion(model, x, torch.tensor([[1.0, 2.0]]), steps=2, activation="none")
        tensor([1.7500])
    """
    curve = perturbation_curve(
        forward_func, inputs, attributions, target, "insertion", steps, baseline, activation,
        max_examples_per_batch,
    )  # fmt: skip
    return _trapezoid(curve)


def perturbation_curve(
    forward_func: Callable[[Tensor], Tensor],
    inputs: Tensor,
    attributions: Tensor,
    target: Tensor | int | None,
    mode: str,
    steps: int = 10,
    baseline: Baseline = 0.0,
    activation: str = "auto",
    max_examples_per_batch: int | None = None,
) -> Tensor:
    """The curve behind :func:`deletion` / :func:`insertion` (``mode``): ``[N, steps + 1]``,
    point ``k`` after ``floor(k * F / steps)`` of the ``F`` features were taken."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(
            f"perturbation_curve: `mode` must be 'deletion' or 'insertion', got {mode!r}."
        )
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"{mode}: `steps` must be a positive int, got {steps!r}.")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{mode}: `activation` must be one of {list(ACTIVATIONS)}, got {activation!r}."
        )
    n = inputs.shape[0]
    scores = _feature_scores(attributions.detach(), inputs)  # [N, F]
    features = scores.shape[1]
    order = scores.argsort(dim=1, descending=True, stable=True)
    position = torch.empty_like(order).scatter_(
        1, order, torch.arange(features, device=order.device).expand_as(order)
    )
    counts = torch.arange(steps + 1, device=inputs.device) * features // steps  # [S]
    taken = position[None] < counts[:, None, None]  # [S, N, F]
    mask = taken.reshape(steps + 1, n, *_feature_shape(inputs))  # broadcastable to inputs
    base = baseline(inputs) if callable(baseline) else baseline
    base = torch.as_tensor(base, dtype=inputs.dtype, device=inputs.device)
    base = base.expand_as(inputs)
    if mode == "deletion":
        batch = torch.where(mask, base[None], inputs[None])
    else:
        batch = torch.where(mask, inputs[None], base[None])
    batch = batch.reshape(-1, *inputs.shape[1:])  # [(S * N), ...], step-major
    with torch.no_grad():
        chunk = max_examples_per_batch or batch.shape[0]
        outputs = torch.cat([forward_func(part) for part in batch.split(chunk)])
    values = _target_values(outputs.float(), target, n, steps + 1, activation)
    return values.reshape(steps + 1, n).T


def _feature_scores(attributions: Tensor, inputs: Tensor) -> Tensor:
    if inputs.ndim >= 3:  # a feature is a position over all channels
        summed = attributions.reshape(attributions.shape[0], attributions.shape[1], -1).sum(1)
        if summed.shape[1] != inputs[0, 0].numel():
            raise ValueError(
                f"deletion/insertion: `attributions` {tuple(attributions.shape)} do not cover the "
                f"inputs' positions {tuple(inputs.shape[2:])}."
            )
        return summed
    flat = attributions.reshape(attributions.shape[0], -1)
    if flat.shape[1] != inputs[0].numel():
        raise ValueError(
            f"deletion/insertion: `attributions` {tuple(attributions.shape)} do not match the "
            f"inputs {tuple(inputs.shape)}."
        )
    return flat


def _feature_shape(inputs: Tensor) -> tuple[int, ...]:
    return (1, *inputs.shape[2:]) if inputs.ndim >= 3 else tuple(inputs.shape[1:])


def _target_values(
    outputs: Tensor, target: Tensor | int | None, n: int, repeats: int, activation: str
) -> Tensor:
    flat = outputs.reshape(outputs.shape[0], -1)
    if activation == "auto":
        activation = "softmax" if flat.shape[1] > 1 else "sigmoid"
    if activation == "softmax":
        flat = flat.softmax(dim=1)
    elif activation == "sigmoid":
        flat = flat.sigmoid()
    if target is None:
        if flat.shape[1] != 1:
            raise ValueError(
                f"deletion/insertion: `target` is None but the model has {flat.shape[1]} outputs."
            )
        return flat[:, 0]
    index = torch.as_tensor(target, device=flat.device).long().reshape(-1)
    index = index.expand(n) if index.numel() == 1 else index
    return flat.gather(1, index.repeat(repeats)[:, None])[:, 0]


def _trapezoid(curve: Tensor) -> Tensor:
    return ((curve[:, 1:] + curve[:, :-1]) / 2).mean(dim=1)
