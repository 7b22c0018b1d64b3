"""Precision, memory formats, compiled modules, several monitors, misconfigurations, long runs."""

from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_xai import AttributionMonitor, FeatureMapMonitor
from tests.support.helpers import DigitsData, LitClassifier, make_trainer

METHODS = ["IntegratedGradients", "DeepLift", "LayerGradCam"]


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", "bf16-true"])
def test_mixed_and_low_precision_training(tmp_path: Path, precision: str) -> None:
    monitor = AttributionMonitor(methods=METHODS, num_probes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_trainer(tmp_path, [monitor], precision=precision, max_epochs=1).fit(
            LitClassifier(), datamodule=DigitsData()
        )
    assert not monitor.errors and set(monitor.latest) == set(METHODS)
    for attribution in monitor.latest.values():
        assert attribution.dtype == torch.float32 and torch.isfinite(attribution).all()
        assert attribution.abs().sum() > 0


def test_mixed_precision_attributes_in_float32_with_autocast_off(tmp_path: Path) -> None:
    from captum.attr import IntegratedGradients

    monitor = AttributionMonitor(methods={"IntegratedGradients": {"n_steps": 8}}, num_probes=3)
    model = LitClassifier()
    make_trainer(tmp_path, [monitor], precision="bf16-mixed", max_epochs=1).fit(
        model, datamodule=DigitsData()
    )
    model.eval()
    x = monitor.probe.inputs.clone()
    expected = IntegratedGradients(model).attribute(x, target=model(x).argmax(1), n_steps=8)
    torch.testing.assert_close(monitor.latest["IntegratedGradients"], expected.detach())


def test_channels_last_and_compiled_modules(tmp_path: Path) -> None:
    model = LitClassifier().to(memory_format=torch.channels_last)
    monitor = AttributionMonitor(methods=METHODS, num_probes=2)
    make_trainer(tmp_path, [monitor], max_epochs=1).fit(model, datamodule=DigitsData())
    assert not monitor.errors and set(monitor.latest) == set(METHODS)

    # The "eager" backend exercises the compiled wrapper without inductor's minute of compile.
    compiled = torch.compile(LitClassifier(), backend="eager")
    monitor = AttributionMonitor(methods=METHODS, num_probes=2)
    make_trainer(tmp_path / "c", [monitor], max_epochs=1).fit(compiled, datamodule=DigitsData())
    assert not monitor.errors and set(monitor.latest) == set(METHODS)


def test_several_monitors_of_one_class_keep_separate_state(tmp_path: Path) -> None:
    first = AttributionMonitor(methods=["Saliency"], num_probes=2, probe_seed=1)
    second = AttributionMonitor(methods=["Saliency"], num_probes=3, probe_seed=2)
    trainer = make_trainer(tmp_path, [first, second], max_epochs=1)
    trainer.fit(LitClassifier(), datamodule=DigitsData())
    assert first.state_key != second.state_key  # their positions, known once set up
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    again = [
        AttributionMonitor(methods=["Saliency"], num_probes=2, probe_seed=1),
        AttributionMonitor(methods=["Saliency"], num_probes=3, probe_seed=2),
    ]
    make_trainer(tmp_path, again, max_epochs=2).fit(
        LitClassifier(), datamodule=DigitsData(), ckpt_path=tmp_path / "a.ckpt"
    )
    for before, after in zip([first, second], again, strict=True):
        assert torch.equal(after.probe.inputs, before.probe.inputs)


def _fails_before_training(
    tmp_path: Path, monitor, data=None, error=ValueError, match="", model=None
):
    model = model or LitClassifier()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=match):
            make_trainer(tmp_path, [monitor]).fit(model, datamodule=data or DigitsData())
    assert model.global_step == 0


def test_target_out_of_range(tmp_path: Path) -> None:
    _fails_before_training(
        tmp_path, AttributionMonitor(target=12), match=r"AttributionMonitor: .*\[0, 9\].*12"
    )


def test_probe_larger_than_the_validation_set(tmp_path: Path) -> None:
    _fails_before_training(
        tmp_path,
        AttributionMonitor(num_probes=64),
        DigitsData(n_val=40),
        match="AttributionMonitor: `num_probes` is 64, but the validation data has only 40",
    )


def test_empty_validation_set(tmp_path: Path) -> None:
    class Empty(DigitsData):
        def val_dataloader(self) -> DataLoader:
            empty = TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))
            return DataLoader(empty, batch_size=4)

    _fails_before_training(tmp_path, AttributionMonitor(), Empty(), match="empty")


def test_feature_map_layer_of_the_wrong_kind(tmp_path: Path) -> None:
    _fails_before_training(tmp_path, FeatureMapMonitor(layers=["net.fc"]), match="net.conv1")


@pytest.mark.slow
def test_two_hundred_validation_runs_leave_no_growth(tmp_path: Path) -> None:
    """Hooks, live tensors, process memory and open files stay flat over 200 runs."""
    import pytorch_lightning as pl

    samples: dict[int, tuple[int, int, int, int]] = {}

    class Meter(pl.Callback):
        def on_validation_epoch_end(self, trainer, pl_module) -> None:
            epoch = trainer.current_epoch
            if epoch in (49, 199):
                # Pictures still queued on the writer threads hold their tensors: in flight,
                # not leaked. Count once every monitor's queue is drained.
                for monitor in monitors:
                    monitor.writer.flush()
                gc.collect()
                hooks = sum(
                    len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                    for m in pl_module.modules()
                )
                tensors = sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))
                samples[epoch] = (hooks, tensors, _rss_kib(), len(os.listdir("/proc/self/fd")))

    monitors = [
        AttributionMonitor(methods=["Saliency", "LayerGradCam"], num_probes=2),
        FeatureMapMonitor(num_probes=2, histograms=False),
    ]
    make_trainer(
        tmp_path,
        [*monitors, Meter()],
        max_epochs=200,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
    ).fit(LitClassifier(), datamodule=DigitsData())
    assert all(m.runs == 200 and not m.errors for m in monitors)
    (hooks_a, tensors_a, rss_a, files_a), (hooks_b, tensors_b, rss_b, files_b) = (
        samples[49],
        samples[199],
    )
    assert hooks_b == hooks_a == 0
    assert tensors_b - tensors_a <= 10, (tensors_a, tensors_b)
    assert rss_b - rss_a < 30 * 1024, f"RSS grew {rss_b - rss_a} KiB over 150 runs"
    assert files_b <= files_a + 1, (files_a, files_b)
    event_bytes = sum(p.stat().st_size for p in (tmp_path / "tb").rglob("events.*"))
    print(f"\nevent-file bytes per validation run: {event_bytes / 200:.0f}")


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_models_returning_a_dict_are_explained_through_output_transform(tmp_path: Path) -> None:
    from captum.attr import IntegratedGradients

    class DictModel(LitClassifier):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
            return {"logits": self.net(x), "features": x.flatten(1)}

        def training_step(self, batch, batch_idx):
            return torch.nn.functional.cross_entropy(self(batch[0])["logits"], batch[1])

        def validation_step(self, batch, batch_idx):
            self(batch[0])

    class ScoresModel(DictModel):  # a dict without "logits": nothing to explain by default
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
            return {"scores": self.net(x)}

    _fails_before_training(
        tmp_path / "a", AttributionMonitor(methods=["Saliency"]), error=TypeError,
        match="output_transform", model=ScoresModel(),
    )  # fmt: skip
    methods = {"IntegratedGradients": {"n_steps": 8}, "DeepLift": None, "LayerGradCam": None}
    monitor = AttributionMonitor(
        methods=methods, num_probes=3, output_transform=lambda out: out["logits"]
    )
    model = DictModel()
    make_trainer(tmp_path / "b", [monitor], max_epochs=1).fit(model, datamodule=DigitsData())
    assert not monitor.errors and set(monitor.latest) == set(methods)
    model.eval()
    x = monitor.probe.inputs.clone()
    logits = model.net(x)
    expected = IntegratedGradients(model.net).attribute(x, target=logits.argmax(1), n_steps=8)
    torch.testing.assert_close(monitor.latest["IntegratedGradients"], expected.detach())


def test_a_method_returning_nan_is_a_counted_failure(tmp_path: Path) -> None:
    from lightning_xai import MethodSpec, register_method

    class NaNs:
        def __init__(self, model) -> None:
            pass

        def attribute(self, inputs, target=None):
            return torch.full_like(inputs, float("nan"))

    register_method(MethodSpec("NanMethod", NaNs), overwrite=True)
    monitor = AttributionMonitor(methods=["NanMethod", "Saliency"], num_probes=2)
    with pytest.warns(RuntimeWarning, match="nan_method failed at step 4 .*NaN or inf"):
        make_trainer(tmp_path, [monitor]).fit(LitClassifier(), datamodule=DigitsData())
    assert monitor.errors["nan_method"] == 2 and set(monitor.latest) == {"Saliency"}
