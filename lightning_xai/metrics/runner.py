"""MetricRunner: the metrics of a monitor's run (schedule, calls, timing), returning values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import Any

import torch
from torch import Tensor

from lightning_xai.distributed import ProbeShard
from lightning_xai.inputs import ModelInputs
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.methods.results import Attribution
from lightning_xai.metrics.context import MetricContext
from lightning_xai.metrics.memory import AttributionMemory
from lightning_xai.metrics.registry import MetricSpec, get_metric, list_metrics
from lightning_xai.metrics.values import MetricValues, series_of
from lightning_xai.validators import is_int

__all__ = ["MetricRunner", "MetricsArg"]

MetricsArg = Sequence[str] | Mapping[str, Mapping[str, Any] | None] | None


class MetricRunner:
    """Runs the configured metrics on each method's attribution and returns their values.

    Nothing is written: :meth:`evaluate` and :meth:`compare` return
    :class:`~lightning_xai.metrics.values.MetricValues` (values, seconds, failures, skips),
    which the monitor logs as ``xai/metrics/<metric>/<method>`` (mean over the probe),
    ``xai/metrics/<metric>/<method>/per_sample`` (histogram) and
    ``xai/time/metric_<metric>/<method>`` (seconds). Metrics that return several values log
    ``<metric>_<suffix>`` (drift); cross-method metrics log ``<a>_vs_<b>`` in the method slot
    and time under ``all``.

    State (:meth:`state_dict`, plain CPU tensors): an
    :class:`~lightning_xai.metrics.memory.AttributionMemory` of each method's attribution at
    the first and the latest run of a metric that ``remembers`` (drift).

    Errors in the configuration are raised without the monitor's name; the monitor adds it.

    Args:
        metrics: names, or name -> options (``None`` for the defaults). Every metric also takes
            ``every_n_epochs`` (default 1): it runs when ``(epoch + 1) % every_n_epochs == 0``
            in ``fit`` (and always in ``validate``/``test``).

    Example:
        >>> runner = MetricRunner({"sparseness": None, "sensitivity_max": {"every_n_epochs": 5}})
        >>> runner.names, runner.due(epoch=0), runner.due(epoch=None)
        (['sparseness', 'sensitivity_max'], ['sparseness'], ['sparseness', 'sensitivity_max'])
    """

    def __init__(self, metrics: MetricsArg = None) -> None:
        if metrics is None:
            metrics = {}
        if isinstance(metrics, str):
            metrics = [metrics]
        if isinstance(metrics, Mapping):
            items = list(metrics.items())
        elif isinstance(metrics, Sequence):
            items = [(name, None) for name in metrics]
        else:
            raise TypeError(
                "`metrics` must be a list of metric names or a mapping name -> options, "
                f"got {type(metrics).__name__}."
            )
        self.specs: dict[str, MetricSpec] = {}
        self.options: dict[str, dict[str, Any]] = {}
        self.every: dict[str, int] = {}
        for name, given in items:
            self._add(name, given)
        self.memory = AttributionMemory()

    def _add(self, name: Any, given: Any) -> None:
        try:
            spec = get_metric(name)
        except ValueError as err:
            raise ValueError(f"`metrics` entry {name!r}: {err}") from None
        if name in self.specs:
            raise ValueError(f"`metrics` names {name!r} more than once.")
        if given is not None and not isinstance(given, Mapping):
            raise TypeError(
                f"options of metric {name!r} must be a mapping, got {type(given).__name__}."
            )
        given = dict(given or {})
        every = given.pop("every_n_epochs", 1)
        if not is_int(every) or every < 1:
            raise ValueError(
                f"option `every_n_epochs` of metric {name!r} must be a positive int, got {every!r}."
            )
        self.specs[name] = spec
        self.options[name] = spec.options(given)
        self.every[name] = every

    def __getstate__(self) -> dict[str, Any]:
        """Pickles names, not specs (their functions may be lambdas): for ``ddp_spawn``."""
        state = {k: v for k, v in self.__dict__.items() if k != "specs"}
        return {**state, "spec_names": list(self.specs)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        names = state.pop("spec_names")
        self.__dict__.update(state)
        self.specs = {name: get_metric(name) for name in names}

    def check_plain_inputs(self, reason: str) -> None:
        """Raises ``ValueError`` when a configured metric runs the model or the method again:
        those perturb one input tensor, which a model with ``reason`` (several inputs, or
        additional forward args) does not have."""

        def runs_model(spec: MetricSpec) -> bool:
            return spec.needs_forward or spec.needs_reattribution

        unsupported = [n for n, spec in self.specs.items() if runs_model(spec)]
        if unsupported:
            free = [n for n in list_metrics() if not runs_model(get_metric(n))]
            raise ValueError(
                f"`metrics` {unsupported} perturb a single input tensor and do not support a "
                f"model with {reason} yet. These read the attributions only and work: {free}."
            )

    @property
    def names(self) -> list[str]:
        """The configured metric names, in the given order."""
        return list(self.specs)

    # -- one run ---------------------------------------------------------------------------
    def due(self, epoch: int | None) -> list[str]:
        """The metrics due after ``epoch`` of ``fit`` (``None``: validate/test, all of them)."""
        return [n for n in self.specs if epoch is None or (epoch + 1) % self.every[n] == 0]

    def attribute(
        self,
        method: ConfiguredMethod,
        inputs: ModelInputs,
        targets: Tensor | None,
        due: Sequence[str],
        **overrides: Any,
    ) -> tuple[Attribution, Tensor | None]:
        """``method.attribute`` (``overrides`` replace configured keywords for this call) and
        the convergence delta, asked for in the same call when a ``due`` metric needs it."""
        wants_delta = any(self.specs[n].needs_delta for n in due)
        if wants_delta and method.spec.has_delta:
            attribution, delta = method.attribute(
                inputs, targets, return_convergence_delta=True, **overrides
            )
            return attribution, delta.detach()
        return method.attribute(inputs, targets, **overrides), None

    def evaluate(
        self,
        ctx: MetricContext,
        due: Sequence[str],
        shard: ProbeShard | None = None,
        size: int = 0,
    ) -> MetricValues:
        """Runs every ``due`` per-method metric on ``ctx.attribution`` (``[N, ...]``, input
        space; ``ctx.previous``/``ctx.first`` are filled from :attr:`memory`).

        Args:
            ctx: one method's run (the global RNG is seeded with ``ctx.seed`` before each
                metric, so that the perturbations are the same at every run).
            due: from :meth:`due`.
            shard: in a distributed run, this rank's share of the probe: per-sample values
                are gathered from every rank (a collective) before they are returned.
            size: the whole probe's size (with ``shard``).
        """
        key, tag = ctx.method.key, ctx.method.tag
        shard = shard or ProbeShard(None)
        ctx = dataclasses.replace(
            ctx, previous=self.memory.previous.get(key), first=self.memory.first.get(key)
        )
        out = MetricValues()
        for name in due:
            spec = self.specs[name]
            if spec.cross_method:
                continue
            reason = spec.applies(ctx.method.spec) if spec.applies else None
            if reason:
                out.skipped[(name, tag)] = reason
                continue
            start = perf_counter()
            torch.manual_seed(ctx.seed)  # the same perturbations at every run (RNG forked)
            series: dict[str, Tensor] | None = None
            try:
                series = series_of(name, spec.compute(ctx, **self.options[name]))
            except Exception as err:
                out.failures.append((f"{name}/{tag}", err))
            # Every rank gathers, failed or not, so that the collectives stay paired.
            gathered = _gather(series, shard, size)
            if series is None:
                continue
            if gathered is None:
                out.failures.append((f"{name}/{tag}", RuntimeError("failed on another rank")))
                continue
            out.series.update({(metric, tag): v.cpu() for metric, v in gathered.items()})
            out.seconds[(name, tag)] = perf_counter() - start
        if any(self.specs[n].remembers for n in due):
            self.memory.record(key, ctx.attribution)
        return out

    def compare(self, attributions: Mapping[str, Tensor], due: Sequence[str]) -> MetricValues:
        """Runs the ``due`` cross-method metrics on ``method tag -> attribution``."""
        out = MetricValues()
        for name in due:
            spec = self.specs[name]
            if not spec.cross_method:
                continue
            if len(attributions) < 2:
                reason = "it compares methods and fewer than two gave attributions"
                out.skipped[(name, "all")] = reason
                continue
            start = perf_counter()
            try:
                result = spec.compute(attributions, **self.options[name])
                if not isinstance(result, Mapping):
                    raise TypeError(f"a cross-method metric must return a mapping, got {result!r}")
                for pair, values in result.items():  # whole-probe values: nothing to gather
                    series = series_of(name, values)
                    out.series.update({(metric, pair): v.cpu() for metric, v in series.items()})
            except Exception as err:
                out.failures.append((f"{name}/all", err))
                continue
            out.seconds[(name, "all")] = perf_counter() - start
        return out

    # -- checkpoint state (the memory of metrics that look back) ---------------------------
    def state_dict(self) -> dict[str, Any]:
        return self.memory.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.memory.load_state_dict(state)


def _gather(
    series: dict[str, Tensor] | None, shard: ProbeShard, size: int
) -> dict[str, Tensor] | None:
    """Per-sample values of every rank (``None`` when any rank failed)."""
    if shard.world == 1:
        return series
    keys = sorted(series) if series is not None else []
    gathered = {}
    for key in keys or [""]:  # one collective even when this rank failed
        part = series[key] if series is not None else None
        whole = shard.gather(part, size)
        if whole is None or isinstance(whole, tuple):
            return None
        gathered[key] = whole
    return gathered
