"""The metric registry: explanation-quality metrics by name, each declaring cost and direction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from lightning_xai.methods import MethodSpec
from lightning_xai.registry import Registry

__all__ = ["DIRECTIONS", "MetricSpec", "get_metric", "list_metrics", "register_metric"]

DIRECTIONS = ("higher", "lower", "neutral")
Result = Tensor | Mapping[str, Tensor]
"""``[N]``, or ``{suffix: [N]}`` logged as ``<metric>_<suffix>`` (drift); ``{}`` logs nothing."""


@dataclass(frozen=True)
class MetricSpec:
    """One explanation-quality metric.

    Attributes:
        name: registry name, used in tags (``xai/metrics/<name>/<method>``) and in ``metrics=``.
        function: the pure tensor function (public, usable without a monitor).
        compute: ``compute(context, **options) -> [N] | {suffix: [N]}`` for one method, or, for
            ``cross_method`` metrics, ``compute({method_tag: attribution}, **options)
            -> {"<a>_vs_<b>": [N]}``.
        direction: ``"higher"`` or ``"lower"`` is better, or ``"neutral"`` (informative).
        cost: what one run costs, in words (shown in the README table).
        needs_forward: runs the model (forward passes only).
        needs_reattribution: runs the attribution method again.
        needs_delta: needs the convergence delta (requested in the monitor's attribution call).
        cross_method: compares the methods with each other, once per run.
        remembers: looks back at earlier runs: the context gets the method's ``previous`` and
            ``first`` attribution (kept by the runner's memory, recorded after each run).
        defaults: the options and their defaults; other keys are refused.
        checks: option -> ``value -> error text or None`` (validated in ``__init__``).
        applies: ``method spec -> None`` if the metric applies, else the reason it does not.
    """

    name: str
    function: Callable[..., Any]
    compute: Callable[..., Result]
    direction: str
    cost: str
    needs_forward: bool = False
    needs_reattribution: bool = False
    needs_delta: bool = False
    cross_method: bool = False
    remembers: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[str, Callable[[Any], str | None]] = field(default_factory=dict)
    applies: Callable[[MethodSpec], str | None] | None = None

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"MetricSpec: `direction` must be one of {list(DIRECTIONS)}, got "
                f"{self.direction!r}."
            )
        object.__setattr__(self, "defaults", dict(self.defaults))
        object.__setattr__(self, "checks", dict(self.checks))

    def options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """``defaults`` updated with ``given``, checked.

        Raises:
            ValueError: unknown option (the message lists the valid ones) or a bad value.
        """
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"metric {self.name!r} got unknown options {unknown}. Valid options: "
                f"{sorted([*self.defaults, 'every_n_epochs'])}."
            )
        merged = {**self.defaults, **given}
        for key, value in given.items():
            problem = self.checks[key](value) if key in self.checks else None
            if problem:
                raise ValueError(
                    f"option `{key}` of metric {self.name!r} must be {problem}, got {value!r}."
                )
        return merged


_METRICS: Registry[MetricSpec] = Registry("metric", MetricSpec)


def register_metric(spec: MetricSpec, *, overwrite: bool = False) -> MetricSpec:
    """Adds ``spec`` under its name; returns it (``ValueError`` if the name is taken and
    ``overwrite`` is False)."""
    return _METRICS.register(spec, overwrite=overwrite)


def get_metric(name: str) -> MetricSpec:
    """The spec registered as ``name``; ``ValueError`` listing the registered metrics if there
    is none."""
    return _METRICS.get(name)


def list_metrics() -> list[str]:
    """Names of all registered metrics, sorted."""
    return _METRICS.names()
