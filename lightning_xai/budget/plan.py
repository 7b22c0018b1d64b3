"""What one budgeted run does (:class:`BudgetPlan`), the reducible knobs and their work."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightning_xai.tags import TAGS

__all__ = [
    "FLOORS",
    "SAMPLE_KNOBS",
    "STAGES",
    "STEP_KNOBS",
    "BudgetPlan",
    "can_reduce",
    "plan_overrides",
    "reduced",
    "work_fraction",
]

STEP_KNOBS = ("n_steps", "nt_samples")
"""Stage 1 knobs, halved: integration steps (path methods) and NoiseTunnel's noisy copies."""
SAMPLE_KNOBS = ("n_samples",)
"""Stage 2 knobs, halved: perturbation samples (GradientShap, Lime, KernelShap, Shapley)."""
FLOORS = {"n_steps": 4, "nt_samples": 2, "n_samples": 2}
"""The budget never reduces a knob below these values (nor below what was configured)."""
STAGES = ("steps", "perturbations", "probes", "skip")
"""The order in which a run is degraded."""


@dataclass
class BudgetPlan:
    """What one run does: the reduced knobs per method, the probes it explains, or a skip.

    Attributes:
        probes: how many probe samples (the first ones) the run explains.
        total_probes: the probe size.
        overrides: method key -> ``attribute`` keywords that replace the configured ones.
        reduced: method key -> knob -> ``(configured, planned)``, only for reduced knobs
            (``"window"`` for Occlusion's ``sliding_window_shapes``, as the window's size).
        estimate: planned seconds from the previous run's measurements (``nan`` if unknown).
        skip: the run is skipped: even one probe at the floors would exceed the budget.
        stages: the stages (of :data:`STAGES`) this plan used.
        remeasure: a run that would be skipped runs instead at the smallest plan (every knob
            at its floor, one probe), to measure the times again (see :class:`TimeBudget`).
        after_skips: for a re-measurement, the number of skipped runs before it.
    """

    probes: int
    total_probes: int
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    reduced: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    estimate: float = math.nan
    skip: bool = False
    stages: list[str] = field(default_factory=list)
    remeasure: bool = False
    after_skips: int = 0

    def scalars(self, tags: Mapping[str, str]) -> dict[str, float]:
        """``xai/budget/...`` tag -> value: ``estimate_seconds`` (once measured), ``probes``,
        ``skipped``, ``remeasured`` (0/1) and ``<method tag>/<knob>`` per reduced knob (a
        window as its side)."""
        out = {
            TAGS["budget"](name="probes"): float(self.probes),
            TAGS["budget"](name="skipped"): float(self.skip),
            TAGS["budget"](name="remeasured"): float(self.remeasure),
        }
        if not math.isnan(self.estimate):
            out[TAGS["budget"](name="estimate_seconds")] = self.estimate
        for key, knobs in self.reduced.items():
            for name, (_, planned) in knobs.items():
                size = planned[-1] if name == "window" else planned
                out[TAGS["budget_knob"](method=tags[key], knob=name)] = float(size)
        return out

    def describe(self, tags: Mapping[str, str]) -> str:
        """What was reduced, e.g. ``"integrated_gradients n_steps 50 -> 12; probes 16 -> 8"``."""
        done = [
            f"{tags[key]} {name} {full} -> {planned}"
            for key, knobs in self.reduced.items()
            for name, (full, planned) in knobs.items()
        ]
        if self.probes < self.total_probes:
            done.append(f"probes {self.total_probes} -> {self.probes}")
        if self.skip:
            done.append("the run is skipped")
        if self.remeasure:
            runs = "run was" if self.after_skips == 1 else "runs were"
            done.append(
                f"re-measuring at the smallest plan (over the budget) after {self.after_skips} "
                f"skipped {runs}"
            )
        return "; ".join(done) or "nothing"


def can_reduce(name: str, planned: Mapping[str, Any], full: Mapping[str, Any]) -> bool:
    if name == "window":
        return any(w < s for w, s in zip(planned["window"][1:], planned["input"][1:], strict=False))
    return planned[name] > min(FLOORS[name], full[name])


def reduced(name: str, planned: Mapping[str, Any]) -> Any:
    if name == "window":
        window, shape = planned["window"], planned["input"]
        return (window[0], *(min(2 * w, s) for w, s in zip(window[1:], shape[1:], strict=False)))
    return max(FLOORS[name], planned[name] // 2)


def _work(knobs: Mapping[str, Any]) -> float:
    """Relative work: product of the counting knobs and the number of Occlusion windows."""
    work = 1.0
    for name in (*STEP_KNOBS, *SAMPLE_KNOBS):
        if name in knobs:
            work *= knobs[name]
    if "window" in knobs:
        for w, s in zip(knobs["window"][1:], knobs["input"][1:], strict=False):
            work *= -(-(s - w) // w) + 1  # Captum places ceil((s - w) / w) + 1 windows
    return work


def work_fraction(planned: Mapping[str, Any], full: Mapping[str, Any]) -> float:
    return _work(planned) / _work(full)


def plan_overrides(planned: Mapping[str, Any], changed: Mapping[str, Any]) -> dict[str, Any]:
    out = {n: planned[n] for n in changed if n != "window"}
    if "window" in changed:
        out["sliding_window_shapes"] = planned["window"]
        out["strides"] = planned["window"]
    return out
