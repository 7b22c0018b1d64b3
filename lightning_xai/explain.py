"""One method's share of an AttributionMonitor run: attribute, gather, evaluate the metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import torch
from torch import Tensor, nn

from lightning_xai.distributed import ProbeShard
from lightning_xai.inputs import ModelInputs
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.methods.results import Attribution, each, finite_float, flattened
from lightning_xai.metrics.context import MetricContext
from lightning_xai.metrics.runner import MetricRunner
from lightning_xai.metrics.values import MetricValues

__all__ = ["Explained", "explain"]


@dataclass
class Explained:
    """What :func:`explain` gave.

    Attributes:
        attribution: the whole probe's attribution in input space (CPU; a tuple for several
            inputs), or ``None`` when this or another rank failed.
        failure: this rank's error, or ``RuntimeError("failed on another rank")``.
        seconds: the attribution's seconds (gather included, metrics not).
        metrics: the metrics' values.
        total: the seconds of the whole call (metrics included).
    """

    attribution: Attribution | None
    failure: Exception | None = None
    seconds: float = 0.0
    metrics: MetricValues = field(default_factory=MetricValues)
    total: float = 0.0


def explain(
    method: ConfiguredMethod,
    model: nn.Module,
    part: ModelInputs,
    targets: Tensor | None,
    *,
    metrics: MetricRunner,
    due: Sequence[str],
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    shard: ProbeShard | None = None,
    size: int = 0,
) -> Explained:
    """Attributes this rank's ``part`` of the probe with ``method``, gathers the whole probe's
    attribution from every rank, and runs the ``due`` metrics on it. Never raises: a failure
    is returned (every rank still takes part in every collective).

    Args:
        method: a bound method.
        model: what the metrics call (the module, or its selected output).
        part: this rank's probe rows; ``targets`` their classes ``[n]`` or ``None``.
        metrics, due: the runner and the metrics due at this run.
        seed: seeds the method's random draws (the same at every run: what changes between
            runs is the model, not the noise) and the metrics' perturbations.
        overrides: ``attribute`` keywords replaced for this run (a time budget's).
        shard, size: this rank's share and the whole probe's size (distributed runs).
    """
    start, shard, overrides = perf_counter(), shard or ProbeShard(None), dict(overrides or {})
    mapped, delta, failure = None, None, None
    torch.manual_seed(seed)  # the guard forks the RNG: the training's stream is untouched
    try:
        attribution, delta = metrics.attribute(method, part, targets, due, **overrides)
        mapped = each(method.to_input_space(attribution, part), finite_float)
    except Exception as err:
        failure = err
    whole = shard.gather(mapped, size or part.size)
    if whole is None or mapped is None:
        if mapped is not None:  # another rank failed and warned
            failure = RuntimeError("failed on another rank")
        return Explained(None, failure)
    seconds = perf_counter() - start
    current = flattened(mapped).detach().float()
    ctx = MetricContext(
        model, method, part.first, targets, current, delta=delta, seed=seed, overrides=overrides
    )
    values = metrics.evaluate(ctx, due, shard, size or part.size)
    return Explained(each(whole, Tensor.cpu), None, seconds, values, perf_counter() - start)
