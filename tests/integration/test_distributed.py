"""Distributed runs on CPU with two processes (gloo): the probe is sharded, results gathered."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from captum.attr import IntegratedGradients

from lightning_xai import AttributionMonitor
from lightning_xai.probe import Probe
from tests.support.helpers import DigitsData, LitClassifier, decode_image, make_trainer, read_events
from tests.support.multi_input import LitImageAndTable, loaders, split_batch

METHODS = {"IntegratedGradients": {"n_steps": 8}, "Saliency": None, "LayerGradCam": None}
METRICS = ["sparseness", "deletion"]
PROBES = 5  # uneven over 2 ranks: 3 + 3 with one padded row


def _monitor() -> AttributionMonitor:
    return AttributionMonitor(methods=METHODS, metrics=METRICS, num_probes=PROBES)


def _validate(root: Path, model: LitClassifier, **trainer_kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_trainer(root, [_monitor()], **trainer_kwargs).validate(model, datamodule=DigitsData())


def _assert_same_logs(single: Path, distributed: Path) -> None:
    one, two = read_events(single), read_events(distributed)
    images = [t for t in one.Tags()["images"] if t.startswith("xai/attributions/")]
    assert len(images) == len(METHODS) * PROBES
    assert sorted(images) == sorted(t for t in two.Tags()["images"] if t in images)
    for tag in images:
        a, b = decode_image(one.Images(tag)[0]), decode_image(two.Images(tag)[0])
        assert (a.int() - b.int()).abs().max() <= 1, tag  # float sums in another order
    scalars = [t for t in one.Tags()["scalars"] if t.startswith("xai/metrics/")]
    assert len(scalars) == len(METHODS) * len(METRICS)
    for tag in scalars:
        np.testing.assert_allclose(
            one.Scalars(tag)[0].value, two.Scalars(tag)[0].value, rtol=1e-4, atol=1e-6
        )


@pytest.mark.slow
def test_ddp_spawn_equals_a_single_process_run(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    model = LitClassifier()
    _validate(tmp_path / "one", model)
    _validate(tmp_path / "two", model, strategy="ddp_spawn", devices=2)
    stage = Path("tb", "version_0", "xai_validate")  # trainer.validate() logs in a run of its own
    _assert_same_logs(tmp_path / "one" / stage, tmp_path / "two" / stage)


@pytest.mark.slow
def test_ddp_subprocess_launcher_equals_a_single_process_run(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    model = LitClassifier()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    _validate(tmp_path / "one", model)
    script = Path(__file__).parents[1] / "support" / "ddp_validate.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "two"), str(tmp_path / "weights.pt")],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stage = Path("tb", "version_0", "xai_validate")  # trainer.validate() logs in a run of its own
    _assert_same_logs(tmp_path / "one" / stage, tmp_path / "two" / stage)


@pytest.fixture(scope="module")
def ddp_fits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/support/ddp_fit.py run once under `strategy="ddp"` (2 CPU ranks, gloo): its scenarios
    `resume`, `budget`, `skip` and `multi` each leave per-rank records (and event files)."""
    root = tmp_path_factory.mktemp("ddp_fit")
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parents[1] / "support" / "ddp_fit.py"), str(root)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def _plans(root: Path) -> tuple[dict, dict]:
    zero, one = (json.loads((root / f"plans_rank{r}.json").read_text()) for r in (0, 1))
    return zero, one


def _values(events, tag: str) -> list[float]:
    return [e.value for e in events.Scalars(tag)]


@pytest.mark.slow
def test_ddp_resume_restores_the_same_probe_on_every_rank(ddp_fits: Path) -> None:
    root = ddp_fits / "resume"
    before = [torch.load(root / f"probe_before_rank{r}.pt") for r in (0, 1)]
    after = [torch.load(root / f"probe_after_rank{r}.pt") for r in (0, 1)]
    reference = before[0]
    assert len(reference["indices"]) == 5
    for held in (*before, *after):  # both ranks, before the checkpoint and after resuming
        assert held["indices"] == reference["indices"]
        assert torch.equal(held["inputs"], reference["inputs"])
        assert torch.equal(held["labels"], reference["labels"])
    assert after[0]["step"] > before[0]["step"] and after[1]["step"] == after[0]["step"]
    # The resumed fit validated on other samples: a probe chosen there would differ, so the
    # one the ranks hold came from the checkpoint.
    fresh = Probe(num_probes=5)
    fresh.select(DigitsData(n_train=352).val_dataloader(), "cpu")
    assert not torch.equal(fresh.inputs, reference["inputs"])
    # Rank zero explained it after resuming.
    events = read_events(root / "tb" / "version_0")
    steps = [e.step for e in events.Images("xai/attributions/saliency/sample_04")]
    assert steps == [before[0]["step"], after[0]["step"]]


@pytest.mark.slow
def test_ddp_ranks_follow_rank_zeros_budget_plan(ddp_fits: Path) -> None:
    root = ddp_fits / "budget"
    zero, one = _plans(root)
    # Rank one's own budget would never reduce anything; it follows rank zero's plan (rank
    # zero's budget is a quarter of its last run's cost, so every later plan is reduced).
    assert zero["max_seconds"] < 1 and one["max_seconds"] == 1e6
    assert one["runs"] == zero["runs"]  # same knobs, probes and gathered result, every run
    first, *later = zero["runs"]
    assert first["probes"] == 8 and not first["overrides"]  # run 1: full size, measured
    assert len(later) == 2
    for run in later:
        assert not run["skip"] and run["overrides"]["IntegratedGradients"]["n_steps"] < 256
        assert all(shape[0] == run["probes"] for shape in run["latest"].values())
    events = read_events(root / "tb" / "version_0")
    assert [e.step for e in events.Scalars("xai/budget/probes")] == [
        r["step"] for r in zero["runs"]
    ]
    assert _values(events, "xai/budget/probes") == [r["probes"] for r in zero["runs"]]
    assert _values(events, "xai/budget/skipped") == [0, 0, 0]
    assert _values(events, "xai/budget/integrated_gradients/n_steps") == [
        r["overrides"]["IntegratedGradients"]["n_steps"] for r in later
    ]
    assert len(events.Scalars("xai/time/integrated_gradients")) == 3


@pytest.mark.slow
def test_ddp_skipped_runs_measure_again_on_every_rank(ddp_fits: Path) -> None:
    root = ddp_fits / "skip"
    zero, one = _plans(root)
    assert one["runs"] == zero["runs"]
    runs = zero["runs"]
    # Full, skipped, re-measured at the smallest plan (after 1 skip), skipped (next after 2).
    assert [(r["skip"], r["remeasure"]) for r in runs] == [
        (False, False),
        (True, False),
        (False, True),
        (True, False),
    ]
    assert [r["probes"] for r in runs] == [8, 1, 1, 1]
    assert runs[2]["overrides"] == {"IntegratedGradients": {"n_steps": 4}}
    assert [r["latest"]["IntegratedGradients"][0] for r in runs] == [8, 8, 1, 1]
    events = read_events(root / "tb" / "version_0")
    assert _values(events, "xai/budget/skipped") == [0, 1, 0, 1]
    assert _values(events, "xai/budget/remeasured") == [0, 0, 1, 0]
    timed = [e.step for e in events.Scalars("xai/time/integrated_gradients")]
    assert timed == [runs[0]["step"], runs[2]["step"]]


@pytest.mark.slow
def test_ddp_gathers_the_attributions_of_every_input(ddp_fits: Path) -> None:
    """A multi-input model with an additional forward arg under 2 ranks: each explains its
    share of the 5 probes (rank one's padded), the per-input tuples are gathered in order and
    equal Captum's on the whole probe."""
    root = ddp_fits / "multi"
    latest = [torch.load(root / f"latest_rank{r}.pt") for r in (0, 1)]
    model = LitImageAndTable()
    model.load_state_dict(torch.load(root / "weights.pt"))
    model.eval()
    probe = AttributionMonitor(num_probes=5, batch_transform=split_batch).probe
    probe.select(loaders()[1], "cpu")
    (image, table), (mask,) = probe.batch.tensors, probe.batch.extra
    with torch.no_grad():
        target = model(image, table, mask).argmax(1)
    expected = IntegratedGradients(model).attribute(
        (image, table), target=target, additional_forward_args=(mask,), internal_batch_size=128
    )
    for held in latest:  # every rank holds the whole gathered result
        got = held["IntegratedGradients"]
        assert isinstance(got, tuple) and [g.shape[0] for g in got] == [5, 5]
        for mine, theirs in zip(got, expected, strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)
        assert held["LayerGradCam"].shape == (5, 1, 8, 8)
