"""AttributionMonitor(metrics=...) in a real Trainer; the event files are read back."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from captum.attr import IntegratedGradients

from lightning_xai import AttributionMonitor, MethodSpec, register_method
from tests.support.helpers import DigitsData, LitClassifier, make_trainer, read_events

METHODS = {
    "IntegratedGradients": {"n_steps": 8},
    "Saliency": None,
    "LayerGradCam": {"layer": "net.conv2"},
}
TAGS = ["integrated_gradients", "saliency", "layer_grad_cam"]
FAST = {
    "infidelity": {"n_perturb_samples": 4},
    "sensitivity_max": {"n_perturb_samples": 3},
    "completeness": None,
    "sparseness": None,
    "complexity": None,
    "deletion": {"steps": 4},
    "insertion": {"steps": 4},
    "randomization": None,
    "drift": None,
    "agreement": None,
}


def _fit(tmp_path: Path, monitor: AttributionMonitor, **kwargs) -> pl.Trainer:
    trainer = make_trainer(tmp_path, [monitor], **kwargs)
    trainer.fit(LitClassifier(), datamodule=DigitsData(n_train=128, n_val=64))
    return trainer


def test_every_metric_is_logged_for_every_method_at_every_validation(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods=METHODS, metrics=FAST, num_probes=4)
    with pytest.warns(UserWarning, match="'completeness' skipped for method 'saliency'"):
        _fit(tmp_path, monitor, max_epochs=3)
    assert not monitor.errors and monitor.runs == 3
    events = read_events(tmp_path / "tb" / "version_0")
    tags = set(events.Tags()["scalars"])
    steps = [4, 8, 12]  # the validation of each epoch; the sanity check logs nothing
    per_method = [m for m in FAST if m not in ("completeness", "drift", "agreement")]
    for metric in per_method:
        for tag in TAGS:
            scalars = events.Scalars(f"xai/metrics/{metric}/{tag}")
            assert [e.step for e in scalars] == steps, (metric, tag)
            assert all(torch.isfinite(torch.tensor(e.value)) for e in scalars)
            assert len(events.Histograms(f"xai/metrics/{metric}/{tag}/per_sample")) == 3
            assert [e.step for e in events.Scalars(f"xai/time/metric_{metric}/{tag}")] == steps
    # completeness: IG only (Saliency and Grad-CAM have no convergence delta)
    assert [
        e.step for e in events.Scalars("xai/metrics/completeness/integrated_gradients")
    ] == steps
    assert not any(t.startswith("xai/metrics/completeness/saliency") for t in tags)
    # drift: nothing at the first run, then against the previous and the first run
    for tag in TAGS:
        for kind in ("spearman_previous", "cosine_previous", "spearman_first", "cosine_first"):
            assert [e.step for e in events.Scalars(f"xai/metrics/drift_{kind}/{tag}")] == [8, 12]
    first = events.Scalars("xai/metrics/drift_spearman_first/saliency")
    previous = events.Scalars("xai/metrics/drift_spearman_previous/saliency")
    assert first[0].value == previous[0].value  # at the second run, previous is the first
    for pair in ("integrated_gradients_vs_saliency", "saliency_vs_layer_grad_cam"):
        assert [e.step for e in events.Scalars(f"xai/metrics/agreement/{pair}")] == steps
    assert [e.step for e in events.Scalars("xai/time/metric_agreement/all")] == steps
    # the drift references travel in the checkpoint state as plain tensors
    buffer = io.BytesIO()
    torch.save(monitor.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["metrics"]["first"]["Saliency"].shape == (4, 1, 8, 8)


class CountingIG(IntegratedGradients):
    """IntegratedGradients that counts its calls (a real subclass, no mock)."""

    calls: list[bool] = []

    def attribute(  # the signature is read by the registry: spelled out
        self,
        inputs,
        baselines=None,
        target=None,
        additional_forward_args=None,
        n_steps=50,
        method="gausslegendre",
        internal_batch_size=None,
        return_convergence_delta=False,
    ):
        CountingIG.calls.append(return_convergence_delta)
        return super().attribute(
            inputs,
            baselines=baselines,
            target=target,
            additional_forward_args=additional_forward_args,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=return_convergence_delta,
        )


def test_completeness_comes_from_the_same_attribution_call(tmp_path: Path) -> None:
    register_method(MethodSpec.from_captum(CountingIG), overwrite=True)
    CountingIG.calls.clear()
    monitor = AttributionMonitor(
        methods={"CountingIG": {"n_steps": 8}},
        metrics={"completeness": None, "sparseness": None},
        num_probes=3,
    )
    _fit(tmp_path, monitor, max_epochs=2)
    assert CountingIG.calls == [True, True]  # one call per run, the delta asked for in it
    events = read_events(tmp_path / "tb" / "version_0")
    values = [e.value for e in events.Scalars("xai/metrics/completeness/counting_ig")]
    assert len(values) == 2 and all(v >= 0 for v in values)
    latest = monitor.latest["CountingIG"]
    assert latest.shape == (3, 1, 8, 8)  # the attribution itself is still logged as before


def test_per_metric_every_n_epochs(tmp_path: Path) -> None:
    monitor = AttributionMonitor(
        methods=["Saliency"],
        metrics={
            "sparseness": None,
            "sensitivity_max": {"every_n_epochs": 2, "n_perturb_samples": 2},
        },
        num_probes=2,
    )
    _fit(tmp_path, monitor, max_epochs=4, limit_train_batches=1, limit_val_batches=1)
    events = read_events(tmp_path / "tb" / "version_0")
    assert [e.step for e in events.Scalars("xai/metrics/sparseness/saliency")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("xai/metrics/sensitivity_max/saliency")] == [2, 4]


def test_training_is_bitwise_identical_with_metrics(tmp_path: Path) -> None:
    def final_weights(root: Path, callbacks: list) -> dict[str, torch.Tensor]:
        pl.seed_everything(7, verbose=False)
        model = LitClassifier()
        trainer = make_trainer(root, callbacks, max_epochs=2, limit_val_batches=1)
        trainer.fit(model, datamodule=DigitsData(n_train=128, n_val=64))
        return {k: v.clone() for k, v in model.state_dict().items()}

    monitor = AttributionMonitor(
        methods={"GradientShap": {"n_samples": 3}, "Saliency": None},
        metrics={
            "infidelity": {"n_perturb_samples": 3},
            "sensitivity_max": {"n_perturb_samples": 2},
            "randomization": None,
            "completeness": None,
        },
        num_probes=3,
    )
    without = final_weights(tmp_path / "a", [])
    with_metrics = final_weights(tmp_path / "b", [monitor])
    assert monitor.runs == 2 and not monitor.errors
    for name, tensor in without.items():
        assert torch.equal(tensor, with_metrics[name]), name


def test_a_failing_metric_follows_on_error(tmp_path: Path) -> None:
    def broken(inputs: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("baseline broken on purpose")

    metrics = {"deletion": {"baseline": broken, "steps": 2}, "sparseness": None}
    monitor = AttributionMonitor(methods=["Saliency"], metrics=metrics, num_probes=2)
    with pytest.warns(RuntimeWarning, match="deletion/saliency failed at step 4"):
        _fit(tmp_path, monitor)
    assert monitor.errors["deletion/saliency"] == 2
    events = read_events(tmp_path / "tb" / "version_0")
    assert [e.value for e in events.Scalars("xai/errors/deletion/saliency")] == [1, 2]
    assert len(events.Scalars("xai/metrics/sparseness/saliency")) == 2  # the others go on
    assert len(events.Images("xai/attributions/saliency/sample_00")) == 2

    strict = AttributionMonitor(
        methods=["Saliency"], metrics=metrics, num_probes=2, on_error="raise"
    )
    with pytest.raises(RuntimeError, match="baseline broken on purpose"):
        _fit(tmp_path / "strict", strict)


@pytest.mark.parametrize(
    ("metrics", "error", "match"),
    [
        (["infidelity", "sensitivity"], ValueError, r"AttributionMonitor: `metrics` entry "),
        (["sensitivity"], ValueError, r"Known metrics: \[.*'sensitivity_max'"),
        ({"infidelity": {"n_samples": 3}}, ValueError, r"Valid options: \[.*'n_perturb_samples'"),
        ({"infidelity": {"normalize": 1}}, ValueError, "`normalize` of metric 'infidelity'"),
        ({"randomization": {"layer": 3}}, ValueError, "dotted module name"),
        ({"drift": {"every_n_epochs": 1.5}}, ValueError, "every_n_epochs"),
        ("sparseness,complexity", ValueError, "Known metrics"),
    ],
)
def test_bad_metrics_fail_in_init(metrics, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AttributionMonitor(methods=["Saliency"], metrics=metrics)
