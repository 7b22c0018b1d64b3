"""TimeBudget: keeps each monitor run within a time, planned from measured times."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lightning_xai.budget.plan import (
    SAMPLE_KNOBS,
    STAGES,
    STEP_KNOBS,
    BudgetPlan,
    can_reduce,
    plan_overrides,
    reduced,
    work_fraction,
)
from lightning_xai.inputs import ModelInputs
from lightning_xai.methods.windows import default_window
from lightning_xai.sinks.base import Sink
from lightning_xai.tags import TAGS

__all__ = ["TimeBudget"]


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

    def __init__(self, max_seconds: float | None) -> None:
        if max_seconds is not None:
            if isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float):
                raise TypeError(
                    "`max_seconds` must be a number of seconds or None, got "
                    f"{type(max_seconds).__name__}."
                )
            if not max_seconds > 0:
                raise ValueError(f"`max_seconds` must be > 0, got {max_seconds}.")
        self.max_seconds = None if max_seconds is None else float(max_seconds)
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
            window = kwargs.get("sliding_window_shapes") or default_window(tuple(input_shape))
            if isinstance(window, tuple) and all(isinstance(w, int) for w in window):
                found["window"] = tuple(window)
                found["input"] = tuple(input_shape[1:])
        return found

    def plan_run(
        self,
        methods: Sequence[Any],
        batch: ModelInputs,
        broadcast: Callable[..., BudgetPlan] | None = None,
    ) -> BudgetPlan:
        """The next run's plan for ``methods`` (:class:`~lightning_xai.methods.ConfiguredMethod`)
        on the probe ``batch``; Occlusion's window is a knob for one input only (several
        inputs: a window each). With ``broadcast`` (a strategy's ``broadcast(obj, src=0)``),
        every rank :meth:`follow` s rank zero's plan."""
        shape = batch.first.shape[:1] if batch.multi else batch.first.shape
        plan = self.plan({m.key: self.knobs(m, shape) for m in methods}, batch.size)
        if broadcast is not None and self.max_seconds is not None:
            plan = self.follow(broadcast(plan, src=0))
        return plan

    def plan_logged(
        self,
        methods: Sequence[Any],
        batch: ModelInputs,
        broadcast: Callable[..., BudgetPlan] | None,
        sink: Sink,
        step: int,
    ) -> tuple[BudgetPlan, str | None]:
        """:meth:`plan_run`, its scalars written to ``sink`` under ``xai/budget/`` (with
        ``max_seconds``), and :meth:`warning`'s message."""
        plan = self.plan_run(methods, batch, broadcast)
        if self.max_seconds is None:
            return plan, None
        tags = {m.key: m.tag for m in methods}
        for tag, value in plan.scalars(tags).items():
            sink.add_scalar(tag, value, step)
        return plan, self.warning(plan, tags)

    def warning(self, plan: BudgetPlan, tags: Mapping[str, str]) -> str | None:
        """What ``plan`` degrades, for a warning (``tags``: method key -> tag), or ``None``."""
        if not plan.stages:
            return None
        full = sum(self.costs.get(key, 0.0) for key in tags)
        return (
            f"`max_seconds`={self.max_seconds} is below the full run's {full:.2f} s; degrading "
            f"in the order {list(STAGES)}: {plan.describe(tags)}. Logged under "
            f"`{TAGS['budget'](name='')}`."
        )

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
            return sum(self.costs[k] * work_fraction(work[k], self._knobs[k]) for k in work) * (
                plan.probes / probes
            )

        for stage, names in (("steps", STEP_KNOBS), ("perturbations", (*SAMPLE_KNOBS, "window"))):
            while estimate() > budget:
                candidates = [
                    (self.costs[k] * work_fraction(work[k], self._knobs[k]), k, name)
                    for k in work
                    for name in names
                    if name in work[k] and can_reduce(name, work[k], self._knobs[k])
                ]
                if not candidates:
                    break
                _, key, name = max(candidates, key=lambda c: (c[0], c[1]))
                work[key][name] = reduced(name, work[key])
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
                plan.overrides[key] = plan_overrides(planned, changed)
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
        share = work_fraction(planned, self._knobs[key]) * plan.probes / plan.total_probes
        self.costs[key] = seconds / max(share, 1e-9)

    def state_dict(self) -> dict[str, Any]:
        """The measured costs and the skip back-off (plain types), for checkpoints: a resumed
        run is planned from them instead of measuring a full-size run first."""
        return {"costs": dict(self.costs), "skipped": self._skipped, "wait": self._wait}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.costs = {str(k): float(v) for k, v in state.get("costs", {}).items()}
        self._skipped = int(state.get("skipped", 0))
        self._wait = int(state.get("wait", 1))
