from __future__ import annotations

import base64
from pathlib import Path

import pytest

from lightning_xai import AttributionMonitor
from lightning_xai.report import main as report_main
from lightning_xai.report import read_logs
from tests.support.helpers import DigitsData, LitClassifier, embedded, make_trainer, read_events


def _run(tmp_path: Path, logger: object = True, epochs: int = 3) -> None:
    monitor = AttributionMonitor(methods=["Saliency", "IntegratedGradients"], num_probes=3)
    make_trainer(tmp_path, [monitor], logger=logger, max_epochs=epochs).fit(
        LitClassifier(), datamodule=DigitsData()
    )


def _check(page: Path, run: str) -> None:
    data = embedded(page)
    assert data["runs"] == [run]
    index, images = data["index"][run], data["images"][run]
    assert index["steps"] == [4, 8, 12] and index["epochs"] == [0, 1, 2]
    grids = {g["name"]: g for g in index["grids"]}
    assert grids["attributions"]["columns"] == ["integrated_gradients", "saliency"]
    assert grids["attributions"]["rows"] == [0, 1, 2] == grids["panels"]["rows"]
    tag = grids["attributions"]["cells"]["2"]["saliency"]
    assert tag == "xai/attributions/saliency/sample_02" and sorted(images[tag]) == ["12", "4", "8"]
    assert base64.b64decode(images[tag]["4"]).startswith(b"\x89PNG")
    charts = {(c["section"], c["title"]): c for c in index["charts"]}
    lines = charts[("time", "seconds per method")]["series"]
    assert [s["name"] for s in lines] == ["integrated_gradients", "saliency"]
    assert [p[0] for p in lines[0]["points"]] == [4, 8, 12]
    # The page is self-contained: the script and the style are inlined, nothing is fetched.
    text = page.read_text()
    assert "export async function render" in text and "<style>" in text
    assert "src=" not in text and "href=" not in text


def test_report_from_event_files(tmp_path: Path) -> None:
    _run(tmp_path)
    (page,) = report_main([str(tmp_path / "tb" / "version_0"), "--out", str(tmp_path / "out")])
    assert page == tmp_path / "out" / "version_0.html"
    _check(page, ".")
    acc = read_events(tmp_path / "tb" / "version_0")
    tag = "xai/panels/sample_01"
    index = embedded(page)
    assert base64.b64decode(index["images"]["."][tag]["8"]) == next(
        e.encoded_image_string for e in acc.Images(tag) if e.step == 8
    )


def test_report_from_the_file_sink(tmp_path: Path) -> None:
    import warnings

    from pytorch_lightning.loggers import CSVLogger

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(tmp_path, logger=CSVLogger(str(tmp_path), name="csv"))
    (page,) = report_main([str(tmp_path / "csv")])
    assert page.parent == tmp_path / "csv" / "xai_report"
    _check(page, "version_0/xai")


def test_a_log_root_of_two_runs_gives_two_pages_never_merged(tmp_path: Path) -> None:
    _run(tmp_path)
    monitor = AttributionMonitor(methods=["Saliency"], num_probes=2)
    make_trainer(tmp_path, [monitor], logger=True, max_epochs=1).fit(
        LitClassifier(), datamodule=DigitsData()
    )  # the same logger name and version: a second event file in the same run...
    first = report_main([str(tmp_path / "tb")])
    assert [p.name for p in first] == ["version_0.html"]
    _run(tmp_path / "other", epochs=1)  # ... while another directory is another run
    pages = report_main([str(tmp_path), "--out", str(tmp_path / "out")])
    assert [p.name for p in pages] == ["other_tb_version_0.html", "tb_version_0.html"]
    other, main = (embedded(p) for p in pages)
    assert other["runs"] == ["other/tb/version_0"] and main["runs"] == ["tb/version_0"]
    assert other["index"]["other/tb/version_0"]["steps"] == [4]
    with pytest.raises(ValueError, match="expected one run"):
        read_logs(tmp_path)
    images, scalars = read_logs(tmp_path / "other")
    assert sorted(images["xai/panels/sample_00"]) == [4] and "xai/time/saliency" in scalars
