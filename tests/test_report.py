from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lightning_xai import AttributionMonitor
from lightning_xai.render import title_size
from lightning_xai.report import main as report_main

from .conftest import DigitsData, LitClassifier, make_trainer


def _run(tmp_path: Path, logger: object = True) -> None:
    monitor = AttributionMonitor(methods=["Saliency", "IntegratedGradients"], num_probes=3)
    make_trainer(tmp_path, [monitor], logger=logger, max_epochs=3).fit(
        LitClassifier(), datamodule=DigitsData()
    )


def _check(page: Path) -> None:
    text = page.read_text()
    assert "filmstrip_saliency.png" in text and "filmstrip_integrated_gradients.png" in text
    assert "xai/time/saliency" in text and "steps 4, 8, 12" in text
    strip = np.asarray(Image.open(page.parent / "filmstrip_saliency.png"))
    # 3 samples x 3 steps of 112-pixel pictures with 2-pixel gaps, each above its colour bar
    # (its values as large as the headers of the 3-tile panel).
    height = 112 + title_size(3 * 112 + 2 * 2) + 11
    assert strip.shape == (3 * height + 2 * 2, 3 * 112 + 2 * 2, 3)
    assert strip[:112, :112].std() > 1  # a real picture, not the white background


def test_report_from_event_files(tmp_path: Path) -> None:
    _run(tmp_path)
    _check(report_main([str(tmp_path / "tb"), "--out", str(tmp_path / "out")]))


def test_report_from_the_file_sink(tmp_path: Path) -> None:
    import warnings

    from pytorch_lightning.loggers import CSVLogger

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(tmp_path, logger=CSVLogger(str(tmp_path), name="csv"))
    _check(report_main([str(tmp_path / "csv")]))
