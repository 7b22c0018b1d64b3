"""What a user sees around the runs: validate/test kept apart from fit in TensorBoard,
``fast_dev_run`` announced, progress during a slow run (and quiet without a progress bar),
one INFO summary line per run."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from captum.attr import Saliency
from pytorch_lightning.callbacks import RichProgressBar, TQDMProgressBar
from pytorch_lightning.loggers import TensorBoardLogger

from lightning_xai import AttributionMonitor, FeatureMapMonitor, MethodSpec, register_method
from lightning_xai.tags import parse_tag
from tests.support.helpers import DigitsData, LitClassifier, make_trainer, read_events

pytestmark = pytest.mark.slow


def test_validate_and_test_after_fit_are_runs_of_their_own(tmp_path: Path) -> None:
    monitors = [
        AttributionMonitor(methods=["Saliency"], num_probes=2),
        FeatureMapMonitor(num_probes=2, samples=[0]),
    ]
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    trainer = make_trainer(tmp_path, monitors, logger=logger, max_epochs=1)
    model, data = LitClassifier(), DigitsData(n_train=128, n_val=32)
    trainer.fit(model, datamodule=data)
    trainer.validate(model, datamodule=data)
    trainer.test(model, datamodule=data)
    run = tmp_path / "tb" / "version_0"
    tag = "xai/attributions/saliency/sample_01"
    for folder in (run, run / "xai_validate", run / "xai_test"):
        events = read_events(folder)
        assert [e.step for e in events.Images(tag)] == [4]  # one picture per run, not three
        assert parse_tag(tag) is not None
        assert "xai/filters/net.conv2" in events.Tags()["images"]


def test_fast_dev_run_says_the_monitors_are_off(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods=["Saliency"], num_probes=2)
    with pytest.warns(UserWarning, match="off under `fast_dev_run`") as record:
        make_trainer(tmp_path, [monitor], fast_dev_run=True).fit(
            LitClassifier(), datamodule=DigitsData(n_train=64, n_val=32)
        )
    assert monitor.runs == 0
    assert sum("fast_dev_run" in str(w.message) for w in record) == 1


class SlowSaliency(Saliency):
    """Saliency made slow on purpose: six forward passes half a second apart first."""

    def attribute(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        for _ in range(6):
            time.sleep(0.5)
            self.forward_func(inputs)
        return super().attribute(inputs, *args, **kwargs)


@pytest.mark.parametrize("progress_bar", ["tqdm", "rich", None])
def test_a_slow_run_shows_progress_and_logs_a_summary(
    tmp_path: Path, capsys: Any, caplog: Any, progress_bar: str | None
) -> None:
    register_method(MethodSpec("SlowSaliency", SlowSaliency), overwrite=True)
    monitor = AttributionMonitor(methods=["SlowSaliency", "Saliency"], num_probes=2)
    bars = {
        "tqdm": TQDMProgressBar,
        # refresh_rate=1: Lightning's refresh thread draws once a second, so a unit shows
        # only if the monitor draws it itself (Saliency is over within that second).
        "rich": lambda: RichProgressBar(
            refresh_rate=1, console_kwargs={"force_terminal": True, "width": 160}
        ),
    }
    callbacks = [monitor] + ([bars[progress_bar]()] if progress_bar else [])
    trainer = make_trainer(
        tmp_path, callbacks, max_epochs=1, num_sanity_val_steps=0,
        enable_progress_bar=bool(progress_bar), limit_train_batches=2, limit_val_batches=1,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="lightning_xai"):
        trainer.fit(LitClassifier(), datamodule=DigitsData(n_train=64, n_val=32))
    seen = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.out + seen.err).replace("\r", "\n")
    bar_lines = [line for line in text.splitlines() if "AttributionMonitor: " in line]
    if progress_bar:
        assert any(re.search(r"AttributionMonitor: slow_saliency\W+0/2", x) for x in bar_lines)
        assert any(re.search(r"AttributionMonitor: saliency\W+1/2", x) for x in bar_lines)
        assert len(bar_lines) < 30  # at most twice a second, not per forward pass
    else:
        assert bar_lines == []
    (summary,) = [r.getMessage() for r in caplog.records if r.name == "lightning_xai"]
    assert summary.startswith("AttributionMonitor at step 2: slow_saliency, saliency in ")
    assert summary.endswith(" s, 0 failure(s)")
