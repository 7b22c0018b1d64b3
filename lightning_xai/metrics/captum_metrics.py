"""Captum's two reliability metrics: infidelity, and a batched sensitivity_max.

``infidelity`` calls :func:`captum.metrics.infidelity` with a perturbation matched to the
method. ``sensitivity_max`` computes Captum's definition with the unperturbed attribution
reused (the monitor has it already) and all ``n_perturb_samples`` perturbed copies of the probe
explained by one call on a ``[n_perturb_samples * N, ...]`` batch; with the same seed and
perturbation it returns what :func:`captum.metrics.sensitivity_max` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from captum.metrics import infidelity as captum_infidelity
from captum.metrics import infidelity_perturb_func_decorator
from torch import Tensor

__all__ = [
    "completeness",
    "gaussian_perturbation",
    "infidelity",
    "sensitivity_max",
    "uniform_perturbation",
]

Explain = Callable[[Tensor, Any], Tensor]
"""``explain(inputs [M, ...], target [M] | int | None) -> attributions [M, ...]``."""


def gaussian_perturbation(
    stdevs: float = 0.003, multiplies_by_inputs: bool = False
) -> Callable[..., tuple[tuple[Tensor, ...], tuple[Tensor, ...]]]:
    """Infidelity's default perturbation, as in Captum's tutorial: ``inputs - N(0, stdevs)``.

    Wrapped in :func:`captum.metrics.infidelity_perturb_func_decorator`: the perturbation is
    ``inputs - perturbed`` for plain gradients, divided by ``inputs - baselines`` for methods
    whose attribution is multiplied by ``inputs - baselines`` (IG, DeepLift, GradientShap, ...).
    Noise comes from the global torch RNG (seed it for reproducible values).

    Args:
        stdevs: standard deviation of the noise.
        multiplies_by_inputs: whether the explained method multiplies by the inputs.
    """

    @infidelity_perturb_func_decorator(multiplies_by_inputs)
    def perturb(inputs: Tensor, baselines: Any = None) -> Tensor:
        return inputs - torch.randn_like(inputs) * stdevs

    return perturb


def uniform_perturbation(inputs: Tensor, perturb_radius: float = 0.02) -> Tensor:
    """Sensitivity's default perturbation, Captum's: ``inputs + U(-r, r)`` (L-inf ball).

    Draws exactly as ``captum.metrics``' default (a CPU float tensor moved to the inputs'
    device), so that the same seed gives the same perturbations.
    """
    noise = torch.empty(inputs.shape, dtype=torch.float32).uniform_(-perturb_radius, perturb_radius)
    return inputs + noise.to(inputs.device)


def infidelity(
    forward_func: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    target: Tensor | int | None = None,
    *,
    multiplies_by_inputs: bool = False,
    baselines: Tensor | float | None = None,
    n_perturb_samples: int = 10,
    stdevs: float = 0.003,
    normalize: bool = False,
    max_examples_per_batch: int | None = None,
    perturb_func: Callable[..., Any] | None = None,
) -> Tensor:
    """Infidelity (Yeh et al. 2019) per sample, by :func:`captum.metrics.infidelity`.

    ``E_I[(I . attribution - (f(x) - f(x - I)))^2]`` over random perturbations ``I``; lower is
    better. ``normalize=True`` first rescales the attribution by the least-squares factor
    (infidelity then ignores the attribution's scale).

    Args:
        forward_func: the model, ``[M, ...] -> [M, K]``.
        inputs: ``[N, ...]``.
        attributions: ``[N, ...]`` like ``inputs``.
        target: class per sample ``[N]``, one class, or ``None``.
        multiplies_by_inputs: the method multiplies by ``inputs - baselines``; selects the
            matching perturbation (ignored when ``perturb_func`` is given).
        baselines: the method's baselines, for ``multiplies_by_inputs``.
        n_perturb_samples: perturbations per sample.
        stdevs: noise of the default :func:`gaussian_perturbation`.
        normalize: Captum's ``normalize``.
        max_examples_per_batch: Captum's chunking of the perturbed forwards.
        perturb_func: Captum-style ``perturb_func`` replacing the default.

    Returns:
        ``[N]``, ``>= 0``.
    """
    perturb = perturb_func or gaussian_perturbation(stdevs, multiplies_by_inputs)
    values = captum_infidelity(
        forward_func,
        perturb,
        inputs,
        attributions,
        baselines=baselines,
        target=target,
        n_perturb_samples=n_perturb_samples,
        max_examples_per_batch=max_examples_per_batch,
        normalize=normalize,
    )
    return values.detach()


def sensitivity_max(
    explain: Explain,
    inputs: Tensor,
    target: Tensor | int | None = None,
    *,
    attributions: Tensor | None = None,
    perturb_radius: float = 0.02,
    n_perturb_samples: int = 10,
    norm_ord: str | float = "fro",
    max_examples_per_batch: int | None = None,
    perturb_func: Callable[[Tensor, float], Tensor] = uniform_perturbation,
) -> Tensor:
    """Max-sensitivity (Yeh et al. 2019) per sample, batched; lower is better.

    ``max_j ||explain(x + d_j) - explain(x)|| / ||explain(x)||`` over ``n_perturb_samples``
    perturbations ``d_j`` (a zero ``||explain(x)||`` counts as 1, as in Captum). The perturbed
    copies are made as Captum makes them (``repeat_interleave`` then one ``perturb_func`` call)
    and explained in **one** call on ``[n_perturb_samples * N, ...]`` (or in chunks of
    ``max_examples_per_batch`` rows); the unperturbed ``attributions`` are reused if given.

    Args:
        explain: ``(inputs [M, ...], target) -> attributions [M, ...]``.
        inputs: ``[N, ...]``.
        target: class per sample ``[N]`` (expanded to ``[n_perturb_samples * N]``), one class,
            or ``None``.
        attributions: ``explain(inputs, target)`` if already computed, ``[N, ...]``.
        perturb_radius: radius of the default L-inf perturbation.
        n_perturb_samples: perturbations per sample.
        norm_ord: ``torch.norm``'s ``p`` for both norms.
        max_examples_per_batch: largest batch of one ``explain`` call; ``None``: one call.
        perturb_func: ``(inputs, perturb_radius) -> perturbed inputs``.

    Returns:
        ``[N]``, ``>= 0``.

    Example:
        >>> explain = lambda x, t: 2 * x
        >>> sensitivity_max(explain, torch.ones(3, 4), n_perturb_samples=5).shape
        torch.Size([3])
    """
    if not isinstance(n_perturb_samples, int) or n_perturb_samples < 1:
        raise ValueError(
            "sensitivity_max: `n_perturb_samples` must be a positive int, got "
            f"{n_perturb_samples!r}."
        )
    n = inputs.shape[0]
    if attributions is None:
        attributions = explain(inputs, target)
    reference = attributions.detach()
    expanded = inputs.repeat_interleave(n_perturb_samples, dim=0)
    perturbed = perturb_func(expanded, perturb_radius)
    targets = target
    if isinstance(target, Tensor) and target.numel() > 1:
        targets = target.repeat_interleave(n_perturb_samples, dim=0)
    rows = max_examples_per_batch or perturbed.shape[0]
    parts = []
    for start in range(0, perturbed.shape[0], rows):
        chunk_target = targets
        if isinstance(targets, Tensor) and targets.numel() > 1:
            chunk_target = targets[start : start + rows]
        parts.append(explain(perturbed[start : start + rows], chunk_target).detach())
    explained = torch.cat(parts)
    with torch.no_grad():
        diff = (reference.repeat_interleave(n_perturb_samples, dim=0) - explained).reshape(
            explained.shape[0], -1
        )
        ref_norm = torch.norm(reference.reshape(n, -1), p=norm_ord, dim=1, keepdim=True)
        ref_norm = torch.where(ref_norm == 0.0, torch.ones_like(ref_norm), ref_norm)
        ratio = torch.norm(diff, p=norm_ord, dim=1, keepdim=True) / ref_norm.repeat_interleave(
            n_perturb_samples, dim=0
        )
        return ratio.reshape(n, -1).max(dim=1).values


def completeness(delta: Tensor, num_samples: int) -> Tensor:
    """Completeness error per sample: ``|sum(attribution) - (f(x) - f(baseline))|``.

    Args:
        delta: the convergence delta Captum returns with ``return_convergence_delta=True``:
            ``[N]``, or ``[N * draws]`` for methods that average draws (GradientShap,
            NoiseTunnel; sample-major).
        num_samples: ``N``.

    Returns:
        ``[N]``: ``|delta|`` averaged over a sample's draws; lower is better.

    Example:
        >>> completeness(torch.tensor([0.5, -0.1, 0.2, 0.0]), 2)
        tensor([0.3000, 0.1000])
    """
    return delta.detach().reshape(num_samples, -1).abs().mean(dim=1).float()
