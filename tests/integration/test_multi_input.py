"""Multi-input models (``forward(image, table, mask)``) and Captum's ``additional_forward_args``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerGradCam

from lightning_xai import AttributionMonitor, FeatureMapMonitor
from lightning_xai.probe import Probe
from lightning_xai.report import write_report
from tests.support.helpers import embedded, make_trainer, read_events
from tests.support.multi_input import LitImageAndTable, loaders, split_batch


def _fit(root: Path, callbacks: list[pl.Callback], **kwargs: Any) -> LitImageAndTable:
    pl.seed_everything(0, verbose=False)
    model = LitImageAndTable()
    trainer = make_trainer(root, callbacks, **kwargs)
    trainer.fit(model, *loaders())
    return model


METHODS = ["IntegratedGradients", "Saliency", "LayerGradCam", "FeatureAblation"]


def test_every_input_is_explained_with_the_additional_forward_args(tmp_path: Path) -> None:
    metrics = ["sparseness", "completeness", "agreement"]
    monitor = AttributionMonitor(
        methods=METHODS, num_probes=4, batch_transform=split_batch, metrics=metrics
    )
    model = _fit(tmp_path, [monitor])
    events = read_events(tmp_path / "tb" / "version_0")
    images = set(events.Tags()["images"])
    # Inputs are named after the forward's parameters; each gets its pictures and panels.
    for method in ("integrated_gradients", "saliency", "feature_ablation"):
        for name in ("image", "table"):
            assert f"xai/attributions/{method}/{name}/sample_03" in images
    assert "xai/attributions/integrated_gradients/table/mean_abs" in images  # bar charts
    assert "xai/attributions/layer_grad_cam/image/sample_00" in images  # over the image only
    assert not any(t.startswith("xai/attributions/layer_grad_cam/table") for t in images)
    assert {"xai/panels/image/sample_00", "xai/panels/table/sample_00"} <= images
    scalars = set(events.Tags()["scalars"])
    assert "xai/features/integrated_gradients/table/feature_3" in scalars
    assert "xai/metrics/sparseness/integrated_gradients" in scalars
    assert "xai/metrics/completeness/integrated_gradients" in scalars
    # Agreement between the per-input methods; LayerGradCam's map covers the image only.
    assert "xai/metrics/agreement/integrated_gradients_vs_saliency" in scalars
    assert not any("agreement/layer_grad_cam" in t or "vs_layer_grad_cam" in t for t in scalars)
    assert not any(t.startswith("xai/errors") for t in scalars)
    assert len(events.Images("xai/panels/image/sample_00")) == 2  # one per epoch

    # `latest` equals Captum called by hand with the same inputs and additional args.
    (image, table), labels = monitor.probe.batch.tensors, monitor.probe.labels
    mask = monitor.probe.batch.extra[0]
    assert mask.shape == (4, 4) and labels is not None
    model.eval()
    with torch.no_grad():
        target = model(image, table, mask).argmax(1)
    expected = IntegratedGradients(model).attribute(
        (image, table), target=target, additional_forward_args=(mask,), internal_batch_size=128
    )
    got = monitor.latest["IntegratedGradients"]
    assert isinstance(got, tuple) and len(got) == 2
    for mine, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(mine, theirs.float(), rtol=1e-4, atol=1e-6)
    # Masked table features get no attribution: the additional arg reached the forward.
    hidden = mask == 0
    assert hidden.any() and torch.all(got[1][hidden] == 0)
    cam = LayerGradCam(model, model.net.conv).attribute(
        (image, table), target=target, additional_forward_args=(mask,), relu_attributions=True
    )
    upsampled = F.interpolate(cam.sum(1, keepdim=True), size=(8, 8), mode="bilinear")
    torch.testing.assert_close(monitor.latest["LayerGradCam"], upsampled)


def test_training_is_unchanged_by_a_multi_input_monitor(tmp_path: Path) -> None:
    plain = _fit(tmp_path / "plain", [])
    monitored = _fit(
        tmp_path / "monitored",
        [AttributionMonitor(methods=METHODS, num_probes=4, batch_transform=split_batch),
         FeatureMapMonitor(num_probes=4, batch_transform=split_batch)],
    )  # fmt: skip
    after = monitored.state_dict()
    for name, value in plain.state_dict().items():
        assert torch.equal(value, after[name]), name


def test_the_report_shows_a_column_per_method_and_input(tmp_path: Path) -> None:
    _fit(
        tmp_path,
        [AttributionMonitor(methods=["Saliency"], num_probes=2, batch_transform=split_batch)],
    )
    (page,) = write_report(tmp_path / "tb" / "version_0", tmp_path / "report")
    grids = {g["name"]: g for g in embedded(page)["index"]["."]["grids"]}
    assert grids["attributions"]["columns"] == ["saliency/image", "saliency/table"]
    assert grids["panels"]["columns"] == ["image", "table"]


def test_a_multi_input_model_without_batch_transform_is_told_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"batch_transform=.*\(input_1, input_2"):
        _fit(tmp_path, [AttributionMonitor(methods=["Saliency"], num_probes=2)])


def test_metrics_that_perturb_one_input_are_refused_before_training(tmp_path: Path) -> None:
    monitor = AttributionMonitor(
        methods=["Saliency"], num_probes=4, batch_transform=split_batch, metrics=["infidelity"]
    )
    with pytest.raises(ValueError, match=r"`metrics` \['infidelity'\].*several inputs"):
        _fit(tmp_path, [monitor])
    assert monitor.runs == 0


def test_a_probe_of_several_inputs_and_extra_args_survives_a_checkpoint(tmp_path: Path) -> None:
    image, table = torch.randn(3, 1, 8, 8), torch.randn(3, 4)
    probe = Probe(samples=((image, table), torch.tensor([1, 2, 3]), (torch.ones(3, 4), 0.5)))
    assert probe.batch.multi and probe.batch.extra[1] == 0.5
    torch.save(probe.state_dict(), tmp_path / "probe.pt")
    restored = Probe()
    restored.load_state_dict(torch.load(tmp_path / "probe.pt", weights_only=True))
    assert torch.equal(restored.batch.tensors[1], table)
    assert torch.equal(restored.batch.extra[0], torch.ones(3, 4)) and restored.batch.extra[1] == 0.5
    with pytest.raises(ValueError, match="one row per sample"):
        Probe(samples=((image, table[:2]), None))


def test_a_time_budget_degrades_a_multi_input_run_without_errors(tmp_path: Path) -> None:
    monitor = AttributionMonitor(
        methods=["IntegratedGradients", "Occlusion"], num_probes=4, batch_transform=split_batch,
        max_seconds=1e-4,  # the floors cost over 1 ms (Occlusion has no window knob here)
    )  # fmt: skip
    with pytest.warns(UserWarning, match="max_seconds"):
        _fit(tmp_path, [monitor], max_epochs=3)
    scalars = read_events(tmp_path / "tb" / "version_0").Scalars
    assert 1.0 in [e.value for e in scalars("xai/budget/skipped")]  # far below the floors
    assert min(e.value for e in scalars("xai/budget/integrated_gradients/n_steps")) < 50
    assert monitor.errors == {}
