from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_xai import AttributionMonitor
from lightning_xai.budget import TimeBudget
from lightning_xai.methods import ConfiguredMethod
from tests.support.helpers import DigitsData, LitClassifier, make_trainer, read_events

KNOBS = {
    "ig": {"n_steps": 64},
    "occlusion": {"window": (1, 4, 4), "input": (1, 28, 28)},
    "saliency": {},
}


_TAGS = {key: key for key in KNOBS}


def _measured(budget: TimeBudget, seconds: dict[str, float], probes: int = 16) -> None:
    budget.plan(KNOBS, probes)  # the first run: full size
    for key, value in seconds.items():
        budget.record(key, value)


def test_no_budget_and_first_run_are_full_size() -> None:
    free = TimeBudget(None)
    _measured(free, {"ig": 100.0, "occlusion": 100.0, "saliency": 1.0})
    plan = free.plan(KNOBS, 16)
    assert plan.probes == 16 and not plan.overrides and not plan.skip
    first = TimeBudget(0.001).plan(KNOBS, 16)
    assert first.probes == 16 and not first.overrides and not first.stages


def test_steps_are_halved_first_then_windows() -> None:
    budget = TimeBudget(1.0)
    _measured(budget, {"ig": 2.0, "occlusion": 0.5, "saliency": 0.01})
    plan = budget.plan(KNOBS, 16)  # ig 2.0 -> 1.0 -> 0.5 (1.01 s in all) -> 0.25: fits
    assert plan.reduced == {"ig": {"n_steps": (64, 8)}}
    assert plan.overrides == {"ig": {"n_steps": 8}}
    assert plan.stages == ["steps"] and plan.probes == 16
    assert plan.estimate == pytest.approx(0.25 + 0.5 + 0.01)

    budget = TimeBudget(0.3)
    _measured(budget, {"ig": 2.0, "occlusion": 0.5, "saliency": 0.01})
    plan = budget.plan(KNOBS, 16)  # steps to the floor (4: 0.125 s), then 49 -> 9 windows
    assert plan.reduced["ig"] == {"n_steps": (64, 4)}
    assert plan.reduced["occlusion"] == {"window": ((1, 4, 4), (1, 8, 8))}
    assert plan.overrides["occlusion"] == {
        "sliding_window_shapes": (1, 8, 8),
        "strides": (1, 8, 8),
    }
    assert plan.stages == ["steps", "perturbations"] and plan.probes == 16


def test_then_probes_then_skip() -> None:
    budget = TimeBudget(0.05)
    _measured(budget, {"ig": 2.0, "occlusion": 0.5, "saliency": 0.2})
    plan = budget.plan(KNOBS, 16)
    assert plan.stages == ["steps", "perturbations", "probes"]
    assert plan.probes < 16 and not plan.skip and plan.estimate <= 0.05

    budget = TimeBudget(0.001)
    _measured(budget, {"ig": 2.0, "occlusion": 0.5, "saliency": 0.2})
    plan = budget.plan(KNOBS, 16)
    assert plan.skip and plan.probes == 1 and plan.stages[-1] == "skip"


def test_a_skipped_budget_measures_again_and_recovers_when_times_drop() -> None:
    budget = TimeBudget(0.01)
    _measured(budget, {"ig": 2.0, "occlusion": 0.5, "saliency": 0.2})  # an inflated first run
    skipped = budget.plan(KNOBS, 16)
    assert skipped.skip and not skipped.remeasure
    retry = budget.plan(KNOBS, 16)  # after 1 skipped run: the smallest plan, not a skip
    assert retry.remeasure and not retry.skip and retry.after_skips == 1
    assert retry.probes == 1 and retry.estimate > 0.01  # over the budget, knowingly
    assert retry.overrides == {
        "ig": {"n_steps": 4},
        "occlusion": {"sliding_window_shapes": (1, 28, 28), "strides": (1, 28, 28)},
    }
    assert "re-measuring at the smallest plan" in retry.describe(_TAGS)
    assert "after 1 skipped run was" in retry.describe(_TAGS)
    scalars = retry.scalars(_TAGS)
    assert scalars["xai/budget/remeasured"] == 1 and scalars["xai/budget/skipped"] == 0
    # The machine is quiet now: the smallest plan takes a fraction of what it would have.
    for key, seconds in {"ig": 1e-4, "occlusion": 1e-4, "saliency": 1e-4}.items():
        budget.record(key, seconds)
    assert budget.costs["ig"] == pytest.approx(1e-4 * 16 * 64 / 4)  # scaled to full size
    plan = budget.plan(KNOBS, 16)  # planned from the new times: runs again, reduced
    assert not plan.skip and not plan.remeasure and plan.estimate <= 0.01
    assert plan.probes > 1 and plan.scalars(_TAGS)["xai/budget/remeasured"] == 0


def test_remeasurements_back_off_exponentially() -> None:
    budget = TimeBudget(1e-6)
    _measured(budget, {"ig": 2.0, "occlusion": 0.5, "saliency": 0.2})
    runs = []
    for _ in range(19):
        plan = budget.plan(KNOBS, 16)
        runs.append("R" if plan.remeasure else "S" if plan.skip else "?")
        if plan.remeasure:  # still far too slow: the budget really is too small
            assert plan.after_skips == len(runs[-1 - plan.after_skips : -1])
            for key in KNOBS:
                budget.record(key, 1.0)
    assert "".join(runs) == "SR" + "SSR" + "SSSSR" + "SSSSSSSSR"


def test_the_back_off_starts_over_once_a_run_fits() -> None:
    budget = TimeBudget(0.01)
    _measured(budget, {"ig": 2.0, "occlusion": 0.5, "saliency": 0.2})

    def runs(*seconds: float) -> str:
        """Plans runs until ``len(seconds)`` of them ran; the i-th that runs takes
        ``seconds[i]`` per method. S: skipped, R: re-measured, '.': planned normally."""
        out, todo = "", list(seconds)
        while todo:
            plan = budget.plan(KNOBS, 16)
            out += "R" if plan.remeasure else "S" if plan.skip else "."
            if not plan.skip:
                for key in KNOBS:
                    budget.record(key, todo[0])
                todo.pop(0)
        return out

    assert runs(1.0, 1e-5) == "SR" + "SSR"  # the second re-measurement finds a quiet machine
    assert runs(1.0) == "."  # planned normally, but the machine is busy again...
    assert runs(1.0) == "SR"  # ...so a skip, and the back-off started over at 1


def test_a_resumed_budget_plans_from_the_checkpointed_costs(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods={"ig": {"method": "IntegratedGradients"}}, max_seconds=1)
    _measured(monitor.budget, {"ig": 4.0})
    torch.save(monitor.state_dict(), tmp_path / "state.pt")
    resumed = AttributionMonitor(methods={"ig": {"method": "IntegratedGradients"}}, max_seconds=1)
    assert resumed.budget.plan({"ig": {"n_steps": 64}}, 16).overrides == {}  # would measure
    resumed = AttributionMonitor(methods={"ig": {"method": "IntegratedGradients"}}, max_seconds=1)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.budget.costs == {"ig": 4.0}
    assert resumed.budget.plan({"ig": {"n_steps": 64}}, 16).overrides == {"ig": {"n_steps": 16}}


def test_later_runs_are_planned_from_the_reduced_measurement() -> None:
    budget = TimeBudget(1.0)
    _measured(budget, {"ig": 4.0, "occlusion": 0.0, "saliency": 0.0})
    plan = budget.plan(KNOBS, 16)
    assert plan.overrides["ig"] == {"n_steps": 16}
    budget.record("ig", 2.0)  # 16 steps took 2 s: the model got slower, 8 s at full size
    assert budget.costs["ig"] == pytest.approx(8.0)
    assert budget.plan(KNOBS, 16).overrides["ig"] == {"n_steps": 8}


def test_knobs_read_from_configured_methods() -> None:
    shape = (16, 1, 28, 28)
    ig = TimeBudget.knobs(ConfiguredMethod("IntegratedGradients", {"n_steps": 20}), shape)
    assert ig == {"n_steps": 20}
    assert TimeBudget.knobs(ConfiguredMethod("GradientShap"), shape) == {"n_samples": 5}
    assert TimeBudget.knobs(ConfiguredMethod("NoiseTunnel(Saliency)"), shape) == {"nt_samples": 10}
    occlusion = TimeBudget.knobs(ConfiguredMethod("Occlusion"), shape)
    assert occlusion == {"window": (1, 4, 4), "input": (1, 28, 28)}
    assert TimeBudget.knobs(ConfiguredMethod("Saliency"), shape) == {}


@pytest.mark.parametrize("bad", ["1", True])
def test_max_seconds_type(bad: object) -> None:
    with pytest.raises(TypeError, match="AttributionMonitor: `max_seconds` must be a number"):
        AttributionMonitor(max_seconds=bad)  # type: ignore[arg-type]


def test_max_seconds_value() -> None:
    with pytest.raises(ValueError, match=r"`max_seconds` must be > 0, got -1"):
        AttributionMonitor(max_seconds=-1)


def _fit(root: Path, max_seconds: float | None, epochs: int) -> AttributionMonitor:
    monitor = AttributionMonitor(
        methods={"IntegratedGradients": {"n_steps": 1024}, "Saliency": None},
        num_probes=16,
        max_seconds=max_seconds,
    )
    trainer = make_trainer(root, [monitor], max_epochs=epochs, limit_train_batches=2)
    trainer.fit(LitClassifier(), datamodule=DigitsData())
    return monitor


def test_a_budget_reduces_steps_in_a_real_fit(tmp_path: Path) -> None:
    # The full run's cost on this machine, then a budget of a 32nd of it: far enough below
    # that runs 2 and 3 are reduced however much the first run's warm-up inflates its time,
    # and far enough above the floors (4 of 1024 steps) that a reduced run, whose time
    # scales up badly (fixed costs per call, a busy machine), does not plan the next skipped.
    full = _fit(tmp_path / "full", None, 1).budget.costs
    budget = (full["IntegratedGradients"] + full["Saliency"]) / 32
    with pytest.warns(UserWarning, match=r"integrated_gradients n_steps 1024 -> \d+"):
        monitor = _fit(tmp_path, budget, 3)
    events = read_events(tmp_path / "tb" / "version_0")
    steps = [e.value for e in events.Scalars("xai/budget/integrated_gradients/n_steps")]
    assert len(steps) == 2 and all(s < 1024 for s in steps)  # runs 2 and 3; run 1 is full
    assert [e.value for e in events.Scalars("xai/budget/skipped")] == [0, 0, 0]
    # The plans fit the budget (what the runs then take is a benchmark's business: under a
    # busy machine's load a reduced run once took 5x the full one).
    estimates = [e.value for e in events.Scalars("xai/budget/estimate_seconds")]
    assert len(estimates) == 2 and max(estimates) <= budget  # runs 2 and 3
    assert not monitor.errors and monitor.latest["IntegratedGradients"].shape[0] >= 1


def test_a_budget_below_the_floors_skips_runs_and_measures_again(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="the run is skipped"):
        monitor = _fit(tmp_path, 1e-9, 4)
    events = read_events(tmp_path / "tb" / "version_0")
    # Run 1 full; run 2 skipped; run 3 re-measures at the smallest plan (after 1 skipped
    # run), still over the budget; run 4 skipped again (the next try comes after 2).
    assert [e.value for e in events.Scalars("xai/budget/skipped")] == [0, 1, 0, 1]
    assert [e.value for e in events.Scalars("xai/budget/remeasured")] == [0, 0, 1, 0]
    assert [e.value for e in events.Scalars("xai/budget/probes")] == [16, 1, 1, 1]
    steps = events.Scalars("xai/budget/integrated_gradients/n_steps")
    assert [e.value for e in steps] == [4, 4, 4]  # the floor, runs 2-4
    timed = [e.step for e in events.Scalars("xai/time/integrated_gradients")]
    assert timed == [e.step for e in events.Scalars("xai/budget/skipped")][:3:2]  # runs 1, 3
    assert monitor.latest["IntegratedGradients"].shape[0] == 1  # run 3's single probe
    assert not monitor.errors and monitor.runs == 4
