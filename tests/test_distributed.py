"""Distributed runs on CPU with two processes (gloo): the probe is sharded, results gathered."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from lightning_xai import AttributionMonitor
from lightning_xai.distributed import ProbeShard

from .conftest import DigitsData, LitClassifier, decode_image, make_trainer, read_events

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


def test_shards_cover_the_probe_evenly() -> None:
    rows = [ProbeShard(None, rank, 2).rows(5).tolist() for rank in (0, 1)]
    assert rows == [[0, 1, 2], [3, 4, 4]]
    assert ProbeShard(None, 0, 1).gather(torch.ones(3), 3) is not None


def test_sharded_parameter_strategies_get_a_clear_error() -> None:
    class FSDPStrategy:  # the check reads the strategy's class name only
        pass

    with pytest.raises(MisconfigurationException, match="FSDPStrategy strategy"):
        ProbeShard.check_strategy(FSDPStrategy(), "AttributionMonitor")


@pytest.mark.slow
def test_ddp_spawn_equals_a_single_process_run(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    model = LitClassifier()
    _validate(tmp_path / "one", model)
    _validate(tmp_path / "two", model, strategy="ddp_spawn", devices=2)
    _assert_same_logs(tmp_path / "one" / "tb" / "version_0", tmp_path / "two" / "tb" / "version_0")


@pytest.mark.slow
def test_ddp_subprocess_launcher_equals_a_single_process_run(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    model = LitClassifier()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    _validate(tmp_path / "one", model)
    script = Path(__file__).with_name("ddp_validate.py")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "two"), str(tmp_path / "weights.pt")],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_same_logs(tmp_path / "one" / "tb" / "version_0", tmp_path / "two" / "tb" / "version_0")
