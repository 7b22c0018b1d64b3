"""MetricRunner: the metrics part of a monitor's run (schedule, calls, timing, logging, state)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from lightning_xai.distributed import ProbeShard
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.metrics.context import MetricContext
from lightning_xai.metrics.registry import MetricSpec, Result, get_metric, list_metrics
from lightning_xai.sinks import Sink

__all__ = ["MetricRunner", "MetricsArg"]

MetricsArg = Sequence[str] | Mapping[str, Mapping[str, Any] | None] | None
Failed = Callable[[str, BaseException, int], None]


class MetricRunner:
    """Runs the configured metrics on each method's attribution and logs them.

    Tags, at the monitor's step: ``xai/metrics/<metric>/<method>`` (mean over the probe),
    ``xai/metrics/<metric>/<method>/per_sample`` (histogram), ``xai/time/metric_<metric>/<method>``
    (seconds). Metrics that return several values log ``<metric>_<suffix>`` (drift); cross-method
    metrics log ``<a>_vs_<b>`` in the method slot and time under ``all``.

    State (:meth:`state_dict`, plain CPU tensors): each method's attribution at the first and at
    the latest run of ``drift``, kept only when ``drift`` is configured.

    Args:
        metrics: names, or name -> options (``None`` for the defaults). Every metric also takes
            ``every_n_epochs`` (default 1): it runs when ``(epoch + 1) % every_n_epochs == 0``
            in ``fit`` (and always in ``validate``/``test``).
        owner: class name used in messages.

    Example:
        >>> runner = MetricRunner({"sparseness": None, "sensitivity_max": {"every_n_epochs": 5}})
        >>> runner.names
        ['sparseness', 'sensitivity_max']
    """

    def __init__(self, metrics: MetricsArg = None, owner: str = "AttributionMonitor") -> None:
        self.owner = owner
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
                f"{owner}: `metrics` must be a list of metric names or a mapping name -> options, "
                f"got {type(metrics).__name__}."
            )
        self.specs: dict[str, MetricSpec] = {}
        self.options: dict[str, dict[str, Any]] = {}
        self.every: dict[str, int] = {}
        for name, given in items:
            self._add(name, given)
        self._due: list[str] = []
        self._step, self._seed = 0, 0
        self._sinks: list[Sink] = []
        self._failed: Failed | None = None
        self._deltas: dict[str, Tensor] = {}
        self._previous: dict[str, Tensor] = {}
        self._first: dict[str, Tensor] = {}
        self._warned: set[str] = set()

    def _add(self, name: Any, given: Any) -> None:
        owner = self.owner
        try:
            spec = get_metric(name)
        except ValueError as err:
            raise ValueError(f"{owner}: `metrics` entry {name!r}: {err}") from None
        if name in self.specs:
            raise ValueError(f"{owner}: `metrics` names {name!r} more than once.")
        if given is not None and not isinstance(given, Mapping):
            raise TypeError(
                f"{owner}: options of metric {name!r} must be a mapping, got "
                f"{type(given).__name__}."
            )
        given = dict(given or {})
        every = given.pop("every_n_epochs", 1)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(
                f"{owner}: option `every_n_epochs` of metric {name!r} must be a positive int, "
                f"got {every!r}."
            )
        self.specs[name] = spec
        self.options[name] = spec.options(given, owner)
        self.every[name] = every

    def __getstate__(self) -> dict[str, Any]:
        """Pickles names, not specs (their functions may be lambdas): for ``ddp_spawn``."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("specs", "_failed")}
        return {**state, "_failed": None, "_sinks": [], "spec_names": list(self.specs)}

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
                f"{self.owner}: `metrics` {unsupported} perturb a single input tensor and do not "
                f"support a model with {reason} yet. These read the attributions only and "
                f"work: {free}."
            )

    @property
    def names(self) -> list[str]:
        """The configured metric names, in the given order."""
        return list(self.specs)

    # -- one run ---------------------------------------------------------------------------
    def begin(
        self,
        trainer: pl.Trainer,
        step: int,
        sinks: Sequence[Sink],
        failed: Failed,
        seed: int = 0,
        shard: ProbeShard | None = None,
        size: int = 0,
    ) -> list[str]:
        """Starts a run: decides which metrics are due and where results and failures go.

        Args:
            trainer: the Trainer (its stage and epoch decide what is due).
            step: the step every value of this run is logged at.
            sinks: where values go.
            failed: ``failed(what, error, step)``, the monitor's fault handler.
            seed: the global RNG is seeded with it before each metric.
            shard: in a distributed run, this rank's share of the probe: per-sample values
                are gathered from every rank (a collective) before they are logged.
            size: the whole probe's size (with ``shard``).

        Returns:
            The names of the metrics due at this run.
        """
        fit = trainer.state.fn == "fit"
        epoch = trainer.current_epoch
        self._due = [n for n in self.specs if not fit or (epoch + 1) % self.every[n] == 0]
        self._deltas = {}
        self._step, self._sinks, self._failed, self._seed = step, list(sinks), failed, seed
        self._shard, self._size = shard or ProbeShard(None), size
        return list(self._due)

    def attribute(
        self, method: ConfiguredMethod, inputs: Tensor, targets: Tensor | None, **overrides: Any
    ) -> Tensor:
        """``method.attribute`` (``overrides`` replace configured keywords for this call),
        asking for the convergence delta in the same call when a due metric needs it (kept
        for :meth:`evaluate`)."""
        wants_delta = any(self.specs[n].needs_delta for n in self._due)
        if wants_delta and method.spec.has_delta:
            attribution, delta = method.attribute(
                inputs, targets, return_convergence_delta=True, **overrides
            )
            self._deltas[method.key] = delta.detach()
            return attribution
        return method.attribute(inputs, targets, **overrides)

    def evaluate(
        self,
        model: nn.Module,
        method: ConfiguredMethod,
        inputs: Tensor,
        targets: Tensor | None,
        attribution: Tensor,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """Runs every due per-method metric on ``attribution`` (``[N, ...]``, input space);
        ``overrides`` are the ``attribute`` keywords this run replaced (a time budget's), used
        by the metrics that explain again."""
        step, sinks, seed = self._step, self._sinks, self._seed
        current = attribution.detach().float()
        ctx = MetricContext(
            model, method, inputs, targets, current.to(inputs.device),
            delta=self._deltas.get(method.key), previous=self._previous.get(method.key),
            first=self._first.get(method.key), seed=seed, overrides=dict(overrides or {}),
        )  # fmt: skip
        for name in self._due:
            spec = self.specs[name]
            if spec.cross_method:
                continue
            reason = spec.applies(method.spec) if spec.applies else None
            if reason:
                self._skip(name, method.tag, reason)
                continue
            start = perf_counter()
            torch.manual_seed(seed)  # the same perturbations at every run (RNG forked by guard)
            series: dict[str, Tensor] | None = None
            try:
                series = _series(name, spec.compute(ctx, **self.options[name]))
            except Exception as err:
                self._fail(f"{name}/{method.tag}", err)
            # Every rank gathers, failed or not, so that the collectives stay paired.
            gathered = self._gather(series)
            if series is None:
                continue
            if gathered is None:
                self._fail(f"{name}/{method.tag}", RuntimeError("failed on another rank"))
                continue
            self._log(method.tag, gathered, step, sinks)
            seconds = perf_counter() - start
            for sink in sinks:
                sink.add_scalar(f"xai/time/metric_{name}/{method.tag}", seconds, step)
        if "drift" in self._due:
            cpu = current.cpu()
            self._previous[method.key] = cpu
            self._first.setdefault(method.key, cpu)

    def compare(self, attributions: Mapping[str, Tensor], tags: Mapping[str, str]) -> None:
        """Runs the due cross-method metrics on ``method key -> attribution`` (``key -> tag``
        names them in the logs)."""
        step, sinks = self._step, self._sinks
        named = {tags[key]: value for key, value in attributions.items()}
        for name in self._due:
            spec = self.specs[name]
            if not spec.cross_method:
                continue
            if len(named) < 2:
                self._skip(name, "all", "it compares methods and fewer than two gave attributions")
                continue
            start = perf_counter()
            try:
                result = spec.compute(named, **self.options[name])
                if not isinstance(result, Mapping):
                    raise TypeError(f"a cross-method metric must return a mapping, got {result!r}")
                for pair, values in result.items():  # whole-probe values: nothing to gather
                    self._log(pair, _series(name, values), step, sinks)
            except Exception as err:
                self._fail(f"{name}/all", err)
                continue
            for sink in sinks:
                sink.add_scalar(f"xai/time/metric_{name}/all", perf_counter() - start, step)

    # -- logging ---------------------------------------------------------------------------
    def _gather(self, series: dict[str, Tensor] | None) -> dict[str, Tensor] | None:
        """Per-sample values of every rank (``None`` when any rank failed)."""
        if self._shard.world == 1:
            return series
        keys = sorted(series) if series is not None else []
        gathered = {}
        for key in keys or [""]:  # one collective even when this rank failed
            part = series[key] if series is not None else None
            whole = self._shard.gather(part, self._size)
            if whole is None:
                return None
            gathered[key] = whole
        return gathered

    def _log(
        self, tag: str, series: Mapping[str, Tensor], step: int, sinks: Sequence[Sink]
    ) -> None:
        for metric, values in series.items():
            values = values.cpu()
            for sink in sinks:
                sink.add_scalar(f"xai/metrics/{metric}/{tag}", float(values.mean()), step)
                sink.add_histogram(f"xai/metrics/{metric}/{tag}/per_sample", values, step)

    def _fail(self, what: str, error: Exception) -> None:
        if self._failed is None:
            raise error
        self._failed(what, error, self._step)

    def _skip(self, name: str, tag: str, reason: str) -> None:
        key = f"{name}/{tag}"
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(
                f"{self.owner}: metric {name!r} skipped for method {tag!r}: {reason}.",
                UserWarning,
                stacklevel=3,
            )

    # -- checkpoint state (the drift references) -------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"previous": dict(self._previous), "first": dict(self._first)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._previous = dict(state.get("previous", {}))
        self._first = dict(state.get("first", {}))


def _series(name: str, result: Result) -> dict[str, Tensor]:
    """A metric's result as ``metric name -> per-sample values [N]`` (several for drift),
    checked finite.

    Raises:
        FloatingPointError: NaN or inf among the values.
    """
    series = (
        {f"{name}_{k}": v for k, v in result.items()}
        if isinstance(result, Mapping)
        else {name: result}
    )
    checked = {}
    for metric, values in series.items():
        values = values.detach().float().reshape(-1)
        if not torch.isfinite(values).all():
            raise FloatingPointError(f"{metric} gave NaN or inf: {values.tolist()}")
        checked[metric] = values
    return checked
