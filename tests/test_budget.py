from __future__ import annotations

from pathlib import Path

import pytest

from lightning_xai import AttributionMonitor
from lightning_xai.budget import TimeBudget
from lightning_xai.methods import ConfiguredMethod

from .conftest import DigitsData, LitClassifier, make_trainer, read_events

KNOBS = {
    "ig": {"n_steps": 64},
    "occlusion": {"window": (1, 4, 4), "input": (1, 28, 28)},
    "saliency": {},
}


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
        methods={"IntegratedGradients": {"n_steps": 256}, "Saliency": None},
        num_probes=16,
        max_seconds=max_seconds,
    )
    trainer = make_trainer(root, [monitor], max_epochs=epochs, limit_train_batches=2)
    trainer.fit(LitClassifier(), datamodule=DigitsData())
    return monitor


def test_a_budget_reduces_steps_in_a_real_fit(tmp_path: Path) -> None:
    # The full run's cost on this machine, then a budget of a 32nd of it: far enough below
    # that runs 2 and 3 are reduced however much the first run's warm-up inflates its time.
    full = _fit(tmp_path / "full", None, 1).budget.costs
    budget = (full["IntegratedGradients"] + full["Saliency"]) / 32
    with pytest.warns(UserWarning, match=r"integrated_gradients n_steps 256 -> \d+"):
        monitor = _fit(tmp_path, budget, 3)
    events = read_events(tmp_path / "tb" / "version_0")
    steps = [e.value for e in events.Scalars("xai/budget/integrated_gradients/n_steps")]
    assert len(steps) == 2 and all(s < 256 for s in steps)  # runs 2 and 3; run 1 is full
    assert [e.value for e in events.Scalars("xai/budget/skipped")] == [0, 0, 0]
    times = [e.value for e in events.Scalars("xai/time/integrated_gradients")]
    assert len(times) == 3 and max(times[1:]) < times[0]
    assert not monitor.errors and monitor.latest["IntegratedGradients"].shape[0] >= 1


def test_a_budget_below_the_floors_skips_runs(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="the run is skipped"):
        monitor = _fit(tmp_path, 1e-9, 3)
    events = read_events(tmp_path / "tb" / "version_0")
    assert [e.value for e in events.Scalars("xai/budget/skipped")] == [0, 1, 1]
    assert [e.value for e in events.Scalars("xai/budget/probes")] == [16, 1, 1]
    assert len(events.Scalars("xai/time/integrated_gradients")) == 1
    assert not monitor.errors and monitor.runs == 3
