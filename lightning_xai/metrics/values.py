"""MetricValues: what one run of the metrics gave, as data for the monitor to log."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lightning_xai.metrics.registry import Result
from lightning_xai.sinks.base import Sink
from lightning_xai.tags import TAGS

__all__ = ["MetricValues", "series_of"]


@dataclass
class MetricValues:
    """The values, timings, failures and skips of the metrics of one run.

    Attributes:
        series: ``(metric, method tag)`` -> per-sample values ``[N]`` (CPU); a metric with
            several values gives ``<metric>_<suffix>`` (drift), a cross-method one
            ``<a>_vs_<b>`` in the method slot.
        seconds: ``(metric, method tag or "all")`` -> seconds the metric took.
        failures: ``(what, error)``, ``what`` being ``<metric>/<method tag>``.
        skipped: ``(metric, method tag)`` -> why the metric does not apply.
    """

    series: dict[tuple[str, str], Tensor] = field(default_factory=dict)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    failures: list[tuple[str, Exception]] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)

    def write(self, sink: Sink, step: int) -> None:
        """Writes the scalars and the per-sample histograms at ``step``."""
        for tag, value in self.scalars().items():
            sink.add_scalar(tag, value, step)
        for tag, per_sample in self.histograms().items():
            sink.add_histogram(tag, per_sample, step)

    def report(
        self,
        sink: Sink,
        step: int,
        warn: Callable[[str, str], None],
        fail: Callable[[str, BaseException, int], None],
    ) -> None:
        """Writes the values; skips go to ``warn(key, message)``, failures to
        ``fail(what, error, step)`` (a monitor's once-only warning and fault count)."""
        self.write(sink, step)
        for (metric, tag), why in self.skipped.items():
            warn(f"{metric}/{tag}", f"metric {metric!r} skipped for method {tag!r}: {why}.")
        for what, error in self.failures:
            fail(what, error, step)

    def scalars(self) -> dict[str, float]:
        """Tag -> value: ``xai/metrics/<metric>/<method>`` (mean over the probe) and
        ``xai/time/metric_<metric>/<method>`` (seconds)."""
        out = {
            TAGS["metric"](metric=metric, method=tag): float(values.mean())
            for (metric, tag), values in self.series.items()
        }
        for (metric, tag), seconds in self.seconds.items():
            out[TAGS["metric_time"](metric=metric, method=tag)] = seconds
        return out

    def histograms(self) -> dict[str, Tensor]:
        """Tag -> per-sample values: ``xai/metrics/<metric>/<method>/per_sample``."""
        return {
            TAGS["metric_per_sample"](metric=metric, method=tag): values
            for (metric, tag), values in self.series.items()
        }

    def update(self, other: MetricValues) -> None:
        """Adds ``other``'s entries to these."""
        self.series.update(other.series)
        self.seconds.update(other.seconds)
        self.failures.extend(other.failures)
        self.skipped.update(other.skipped)


def series_of(name: str, result: Result) -> dict[str, Tensor]:
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
