"""A time budget per monitor run: what to reduce, in which order, planned from measured times."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BudgetPlan", "TimeBudget"]

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
            "xai/budget/probes": float(self.probes),
            "xai/budget/skipped": float(self.skip),
            "xai/budget/remeasured": float(self.remeasure),
        }
        if not math.isnan(self.estimate):
            out["xai/budget/estimate_seconds"] = self.estimate
        for key, knobs in self.reduced.items():
            for name, (_, planned) in knobs.items():
                size = planned[-1] if name == "window" else planned
                out[f"xai/budget/{tags[key]}/{name}"] = float(size)
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


class TimeBudget:
    """Keeps each run within ``max_seconds`` by degrading, from the previous run's timings.

    Order: (1) fewer steps (``n_steps``, ``nt_samples`` halved), (2) fewer perturbations
    (``n_samples`` halved; Occlusion windows doubled a side, so a quarter of the windows), (3)
    fewer probes (halved), (4) skip the run. Within a stage the method with the largest
    planned cost is reduced first, one halving at a time, until the estimate fits. The cost of
    a method is assumed proportional to its work (steps x samples x windows) and to the probe
    count; the first run is measured at full size, every later run is planned from the last
    measurement (so a budget adapts when the model or the machine gets slower). The budget
    covers the methods and their metrics, not the single forward pass over the probe.

    A skip is not final: a skipped run measures nothing, so a first measurement that was
    inflated (a slow first run, a busy machine) would otherwise skip every later run. After
    1 skipped run, then 2, 4, 8... (exponential back-off, so a budget that really is too small
    costs one small run in ever longer stretches), the run that would be skipped runs at the
    smallest plan instead (every knob at its floor, one probe; ``plan.remeasure``). Its times
    are recorded like any other, and the next plan follows from them: when they fit, runs are
    planned normally again and the back-off starts over at 1.

    Args:
        max_seconds: seconds per run, or ``None`` (no budget: every run at full size).
        owner: class name for error messages.

    Example:
        >>> budget = TimeBudget(1.0)
        >>> knobs = {"ig": {"n_steps": 64}}
        >>> budget.plan(knobs, probes=16).reduced  # first run: full size, measured
        {}
        >>> budget.record("ig", 4.0)  # it took 4 s
        >>> plan = budget.plan(knobs, probes=16)
        >>> plan.overrides, plan.probes
        ({'ig': {'n_steps': 16}}, 16)
        >>> budget.record("ig", 80.0)  # 16 steps took 80 s: the machine got busy
        >>> budget.plan(knobs, probes=16).skip  # 4 steps on 1 probe: 1.25 s > 1 s
        True
        >>> retry = budget.plan(knobs, probes=16)  # after 1 skipped run: measure again
        >>> retry.remeasure, retry.overrides, retry.probes
        (True, {'ig': {'n_steps': 4}}, 1)
    """

    def __init__(self, max_seconds: float | None, owner: str = "AttributionMonitor") -> None:
        if max_seconds is not None:
            if isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float):
                raise TypeError(
                    f"{owner}: `max_seconds` must be a number of seconds or None, got "
                    f"{type(max_seconds).__name__}."
                )
            if not max_seconds > 0:
                raise ValueError(f"{owner}: `max_seconds` must be > 0, got {max_seconds}.")
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.owner = owner
        self.costs: dict[str, float] = {}
        """Method key -> seconds at full size on all probes, from the last measurement."""
        self._last: BudgetPlan | None = None
        self._knobs: dict[str, dict[str, Any]] = {}
        self._skipped = 0  # runs skipped since the last run that ran
        self._wait = 1  # skipped runs before the next re-measurement: 1, 2, 4, 8...

    @staticmethod
    def knobs(method: Any, input_shape: Sequence[int]) -> dict[str, Any]:
        """The reducible knobs of a :class:`~lightning_xai.methods.ConfiguredMethod` at full
        size: ``n_steps`` / ``nt_samples`` / ``n_samples`` as configured (else Captum's
        default), and Occlusion's ``window`` (``sliding_window_shapes``) with the input's
        ``shape`` ``[N, C, ...]`` under key ``"input"``."""
        kwargs = method.attribute_kwargs
        params = inspect.signature(method.spec.builder.attribute).parameters
        found: dict[str, Any] = {}
        for name in ("n_steps", "n_samples"):
            default = params[name].default if name in params else None
            value = kwargs.get(name, default)
            if isinstance(value, int) and not isinstance(value, bool):
                found[name] = value
        if method.noise_tunnel:
            found["nt_samples"] = int(method.noise_tunnel["nt_samples"])
        strides = kwargs.get("strides")
        own_strides = strides is not None and strides != kwargs.get("sliding_window_shapes")
        if method.spec.window and len(input_shape) > 2 and not own_strides:
            from lightning_xai.methods.configured import _default_window

            window = kwargs.get("sliding_window_shapes") or _default_window(tuple(input_shape))
            if isinstance(window, tuple) and all(isinstance(w, int) for w in window):
                found["window"] = tuple(window)
                found["input"] = tuple(input_shape[1:])
        return found

    def plan(self, knobs: Mapping[str, Mapping[str, Any]], probes: int) -> BudgetPlan:
        """The plan for the next run.

        Args:
            knobs: method key -> its full-size knobs (see :meth:`knobs`); every method of the
                run, including those without knobs (an empty mapping).
            probes: the probe size ``N``.
        """
        self._knobs = {k: dict(v) for k, v in knobs.items()}
        work = {k: dict(v) for k, v in self._knobs.items()}
        plan = BudgetPlan(probes=probes, total_probes=probes)
        known = all(k in self.costs for k in knobs)
        if self.max_seconds is None or not known:  # a full-size run: measure everything
            self._skipped, self._wait = 0, 1
            self._last = plan
            return plan
        budget = self.max_seconds

        def estimate() -> float:
            return sum(self.costs[k] * _fraction(work[k], self._knobs[k]) for k in work) * (
                plan.probes / probes
            )

        for stage, names in (("steps", STEP_KNOBS), ("perturbations", (*SAMPLE_KNOBS, "window"))):
            while estimate() > budget:
                candidates = [
                    (self.costs[k] * _fraction(work[k], self._knobs[k]), k, name)
                    for k in work
                    for name in names
                    if name in work[k] and _can_reduce(name, work[k], self._knobs[k])
                ]
                if not candidates:
                    break
                _, key, name = max(candidates, key=lambda c: (c[0], c[1]))
                work[key][name] = _reduced(name, work[key])
                if stage not in plan.stages:
                    plan.stages.append(stage)
        while estimate() > budget and plan.probes > 1:
            plan.probes = max(1, plan.probes // 2)
            if "probes" not in plan.stages:
                plan.stages.append("probes")
        plan.estimate = estimate()
        if plan.estimate <= budget:
            self._skipped, self._wait = 0, 1
        elif self._skipped >= self._wait:  # at the floors: run it anyway, measure again
            plan.remeasure, plan.after_skips = True, self._skipped
            self._skipped, self._wait = 0, 2 * self._wait
        else:
            self._skipped += 1
            plan.skip = True
            plan.stages.append("skip")
        for key, planned in work.items():
            full = self._knobs[key]
            changed = {
                n: (full[n], planned[n]) for n in planned if n != "input" and planned[n] != full[n]
            }
            if changed:
                plan.reduced[key] = changed
                plan.overrides[key] = _overrides(planned, changed)
        self._last = plan
        return plan

    @property
    def last(self) -> BudgetPlan | None:
        """The plan of the latest run (see :meth:`follow`), ``None`` before the first."""
        return self._last

    def follow(self, plan: BudgetPlan) -> BudgetPlan:
        """Makes ``plan`` the latest run's plan, in place of the one :meth:`plan` returned:
        under DDP every rank follows rank zero's plan, and :meth:`record` must scale its
        measurements by the plan that actually ran. Returns ``plan``."""
        self._last = plan
        return plan

    def record(self, key: str, seconds: float) -> None:
        """Records the measured ``seconds`` of method ``key`` in the run just planned."""
        plan = self._last
        if plan is None or key not in self._knobs:
            return
        planned = dict(self._knobs[key])
        for name, (_, value) in plan.reduced.get(key, {}).items():
            planned[name] = value
        share = _fraction(planned, self._knobs[key]) * plan.probes / plan.total_probes
        self.costs[key] = seconds / max(share, 1e-9)

    def state_dict(self) -> dict[str, Any]:
        """The measured costs and the skip back-off (plain types), for checkpoints: a resumed
        run is planned from them instead of measuring a full-size run first."""
        return {"costs": dict(self.costs), "skipped": self._skipped, "wait": self._wait}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.costs = {str(k): float(v) for k, v in state.get("costs", {}).items()}
        self._skipped = int(state.get("skipped", 0))
        self._wait = int(state.get("wait", 1))


def _can_reduce(name: str, planned: Mapping[str, Any], full: Mapping[str, Any]) -> bool:
    if name == "window":
        return any(w < s for w, s in zip(planned["window"][1:], planned["input"][1:], strict=False))
    return planned[name] > min(FLOORS[name], full[name])


def _reduced(name: str, planned: Mapping[str, Any]) -> Any:
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


def _fraction(planned: Mapping[str, Any], full: Mapping[str, Any]) -> float:
    return _work(planned) / _work(full)


def _overrides(planned: Mapping[str, Any], changed: Mapping[str, Any]) -> dict[str, Any]:
    out = {n: planned[n] for n in changed if n != "window"}
    if "window" in changed:
        out["sliding_window_shapes"] = planned["window"]
        out["strides"] = planned["window"]
    return out
