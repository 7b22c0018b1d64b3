"""Every Lightning logger gets what it can hold, read back through the logger's own files or
client: CSV (metrics.csv, files beside it), MLflow (a local file store, MlflowClient) and
Weights & Biases (offline mode, its run files)."""

from __future__ import annotations

import csv
import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from lightning_xai import AttributionMonitor, FeatureMapMonitor
from tests.support.helpers import DigitsData, LitClassifier, make_trainer

pytestmark = pytest.mark.slow


def _fit(root: Path, logger: Any) -> list[Any]:
    monitors = [
        AttributionMonitor(methods=["Saliency"], num_probes=2),
        FeatureMapMonitor(num_probes=2, samples=[0], max_channels=4),  # capped: channel text
    ]
    make_trainer(root, monitors, logger=logger, max_epochs=1).fit(
        LitClassifier(), datamodule=DigitsData(n_train=128, n_val=32)
    )
    assert all(m.runs == 1 and not m.errors for m in monitors)
    return monitors


def test_csv_logger_gets_the_scalars_and_files_go_to_its_version_folder(tmp_path: Path) -> None:
    from pytorch_lightning.loggers import CSVLogger

    for version in (0, 1):
        with pytest.warns(UserWarning, match="no logger on the Trainer takes images"):
            _fit(tmp_path, CSVLogger(str(tmp_path), name="csv"))
        folder = tmp_path / "csv" / f"version_{version}"
        with (folder / "metrics.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert {"xai/time/saliency", "xai/health/net.conv2/sparsity"} <= set(rows[0])
        assert [r["step"] for r in rows if r["xai/time/saliency"]] == ["4"]
        lines = (folder / "xai" / "scalars.jsonl").read_text().splitlines()
        assert {json.loads(line)["step"] for line in lines} == {4}  # this run's only
        assert (folder / "xai/images/xai/panels/sample_01/step_000004.png").exists()


def test_without_a_logger_each_run_gets_its_own_folder(tmp_path: Path) -> None:
    for _ in range(2):
        with pytest.warns(UserWarning, match="no logger"):
            _fit(tmp_path, False)
    runs = sorted(p.name for p in (tmp_path / "xai_runs").iterdir())
    assert runs == ["version_0", "version_1"]
    for run in runs:
        lines = (tmp_path / "xai_runs" / run / "xai" / "scalars.jsonl").read_text().splitlines()
        assert sum(json.loads(line)["tag"] == "xai/epoch" for line in lines) == 2  # 2 monitors


def test_mlflow_gets_scalars_images_and_text(tmp_path: Path, monkeypatch: Any) -> None:
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient
    from pytorch_lightning.loggers import MLFlowLogger

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"
    logger = MLFlowLogger(experiment_name="xai", tracking_uri=uri)
    _fit(tmp_path, logger)
    client = MlflowClient(uri)
    history = client.get_metric_history(logger.run_id, "xai/time/saliency")
    assert [m.step for m in history] == [4]
    assert [m.step for m in client.get_metric_history(logger.run_id, "xai/epoch")] == [4, 4]

    def files(path: str) -> list[str]:
        found = []
        for info in client.list_artifacts(logger.run_id, path):
            found += files(info.path) if info.is_dir else [info.path]
        return found

    artifacts = files("")
    assert any("panels" in p and "sample_01" in p and p.endswith(".png") for p in artifacts)
    assert any("filters" in p and "net.conv2" in p for p in artifacts)
    assert any(p.endswith(".txt") and "channels" in p for p in artifacts)
    assert not (tmp_path / "mlruns" / "xai").exists()  # nothing inside MLflow's own store
    assert {e.name for e in client.search_experiments()} <= {"xai", "Default"}


def test_wandb_offline_gets_scalars_images_histograms_and_text(
    tmp_path: Path, monkeypatch: Any
) -> None:
    pytest.importorskip("wandb")
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    try:
        _fit(tmp_path, WandbLogger(save_dir=str(tmp_path), offline=True, project="xai"))
    finally:
        wandb.finish()
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    rows = [
        {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in r.history.item}
        for r in _finished_records(next(run.glob("run-*.wandb")))
        if r.WhichOneof("record_type") == "history"
    ]
    values = {key: value for row in rows for key, value in row.items()}
    assert isinstance(values["xai/time/saliency"], float)
    assert values["xai/histograms/net.conv2/weights/_type"] == "histogram"
    assert values["xai/feature_maps/net.conv2/channels/_type"] == "table-file"
    media = run / "files" / "media"
    assert list((media / "images/xai/panels").glob("sample_01_*.png"))
    assert list((media / "images/xai/filters").glob("net.conv2_*.png"))


def _finished_records(path: Path, timeout: float = 60.0) -> list[Any]:
    """The run file's records once W&B's service has written its ``exit`` record:
    ``wandb.finish()`` can return while the service still writes the file (a read then
    lacked records or met a half-written one, 2 runs in 8)."""
    from google.protobuf.message import DecodeError

    deadline = time.monotonic() + timeout
    while True:
        try:
            records = _wandb_records(path)
            if any(r.WhichOneof("record_type") == "exit" for r in records):
                return records
        except DecodeError:
            pass
        assert time.monotonic() < deadline, f"{path} has no exit record after {timeout} s"
        time.sleep(0.2)


def _wandb_records(path: Path) -> list[Any]:
    """The records of a W&B run file (LevelDB log format: 32 KiB blocks of chunks with a
    7-byte header: checksum, length, type 1 full / 2 first / 3 middle / 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos = path.read_bytes(), 32768, 7  # after the file's own 7-byte header
    records, chunks = [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunks += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            records.append(record)
            chunks = b""
    return records
