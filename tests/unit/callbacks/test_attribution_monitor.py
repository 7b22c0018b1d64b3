from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from captum.attr import GradientShap, IntegratedGradients, LayerGradCam, NoiseTunnel, Saliency
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from lightning_xai import AttributionMonitor, MethodSpec, register_method
from tests.support.helpers import DigitsData, LitClassifier, decode_image, make_trainer, read_events

METHODS = ["IntegratedGradients", "Saliency", "LayerGradCam", "GradientShap"]


def _fit(tmp_path: Path, monitor: AttributionMonitor, **kwargs) -> tuple:
    model = LitClassifier()
    trainer = make_trainer(tmp_path, [monitor], **kwargs)
    trainer.fit(model, datamodule=DigitsData())
    return trainer, model


def test_one_image_per_probe_method_and_validation_epoch(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods=METHODS, num_probes=4)
    _fit(tmp_path, monitor, max_epochs=3)
    events = read_events(tmp_path / "tb" / "version_0")
    steps = [4, 8, 12]  # global_step after each of the 3 epochs; none for the sanity check
    for tag in ("integrated_gradients", "saliency", "layer_grad_cam", "gradient_shap"):
        for k in range(4):
            images = events.Images(f"xai/attributions/{tag}/sample_{k:02d}")
            assert [e.step for e in images] == steps
            pixels = decode_image(images[-1])
            assert pixels.float().std() > 1, f"{tag} sample {k} is a constant picture"
        assert [e.step for e in events.Scalars(f"xai/time/{tag}")] == steps
    panel = events.Images("xai/panels/sample_00")
    assert [e.step for e in panel] == steps and panel[0].width > 5 * 112  # input + 4 methods
    assert not monitor.errors and monitor.runs == 3


def test_latest_equals_a_direct_captum_call(tmp_path: Path) -> None:
    monitor = AttributionMonitor(
        methods={
            "IntegratedGradients": {"n_steps": 20},
            "Saliency": None,
            "LayerGradCam": {"layer": "net.conv1"},
            "GradientShap": {"n_samples": 4, "stdevs": 0.1},
            "NoiseTunnel(Saliency)": {"noise_tunnel": {"nt_samples": 3}},
        },
        num_probes=6,
    )
    _, model = _fit(tmp_path, monitor, max_epochs=1)
    model.eval()
    x = monitor.probe.inputs.clone()
    target = model(x).argmax(1)
    expected = {
        "IntegratedGradients": IntegratedGradients(model).attribute(x, target=target, n_steps=20),
        "Saliency": Saliency(model).attribute(x, target=target),
        "LayerGradCam": LayerGradCam(model, model.net.conv1).attribute(
            x, target=target, relu_attributions=True
        ),
    }
    torch.manual_seed(monitor.probe.seed)
    expected["GradientShap"] = GradientShap(model).attribute(
        x, torch.zeros_like(x[:1]), target=target, n_samples=4, stdevs=0.1
    )
    torch.manual_seed(monitor.probe.seed)
    expected["NoiseTunnel(Saliency)"] = NoiseTunnel(Saliency(model)).attribute(
        x, target=target, nt_samples=3, stdevs=0.2, nt_samples_batch_size=3
    )
    assert set(monitor.latest) == set(expected)
    for name, attribution in expected.items():
        assert monitor.latest[name].shape == x.shape, name
        torch.testing.assert_close(monitor.latest[name], attribution.detach(), rtol=1e-4, atol=1e-5)


def _final_weights(tmp_path: Path, callbacks: list) -> dict[str, torch.Tensor]:
    import pytorch_lightning as pl

    pl.seed_everything(123, verbose=False)
    model = LitClassifier()
    trainer = make_trainer(tmp_path, callbacks, max_epochs=3, limit_val_batches=1)
    trainer.fit(model, datamodule=DigitsData())
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_is_bitwise_identical_with_the_monitor(tmp_path: Path) -> None:
    # Dropout and shuffling draw from the RNG; GradientShap and NoiseTunnel draw too.
    monitor = AttributionMonitor(
        methods=["GradientShap", "NoiseTunnel(Saliency)", "IntegratedGradients", "DeepLift"],
        num_probes=4,
    )
    without = _final_weights(tmp_path / "a", [])
    with_monitor = _final_weights(tmp_path / "b", [monitor])
    assert monitor.runs == 3 and not monitor.errors
    assert without.keys() == with_monitor.keys()
    for name, tensor in without.items():
        assert torch.equal(tensor, with_monitor[name]), name  # weights and BatchNorm buffers


def test_validate_and_test_under_inference_mode(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods=["IntegratedGradients", "DeepLift"], num_probes=3)
    trainer = make_trainer(tmp_path, [monitor])
    model = LitClassifier()
    trainer.validate(model, datamodule=DigitsData())
    assert set(monitor.latest) == {"IntegratedGradients", "DeepLift"} and not monitor.errors
    assert monitor.latest["DeepLift"].abs().sum() > 0
    trainer.test(model, datamodule=DigitsData())
    assert monitor.runs == 2 and not monitor.errors


def test_resume_keeps_the_probe_and_continues_the_steps(tmp_path: Path) -> None:
    first = AttributionMonitor(methods=["Saliency"], num_probes=5, probe_seed=1)
    trainer, _ = _fit(tmp_path, first, max_epochs=1)
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    state = torch.load(ckpt, weights_only=True)["callbacks"]
    assert any("AttributionMonitor" in key for key in state)

    second = AttributionMonitor(methods=["Saliency"], num_probes=5, probe_seed=1)
    resumed = make_trainer(tmp_path, [second], max_epochs=2)
    # A different validation set: a fresh selection would differ, the restored probe must not.
    resumed.fit(LitClassifier(), datamodule=DigitsData(n_train=200, n_val=150), ckpt_path=ckpt)
    assert torch.equal(second.probe.inputs, first.probe.inputs)
    assert second.probe.indices == first.probe.indices and second.runs == 2
    steps = [
        e.step for e in read_events(tmp_path / "tb" / "version_0").Images("xai/panels/sample_00")
    ]
    # Two event files (before and after the resume); when both are opened within one second
    # their names do not order them, so compare the steps as a set of runs.
    assert sorted(steps) == [4, 8]


def test_without_tensorboard_png_and_jsonl_are_written(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods=["Saliency"], num_probes=2)
    with pytest.warns(UserWarning, match="no logger on the Trainer takes images"):
        _fit(tmp_path, monitor, logger=CSVLogger(str(tmp_path), name="csv", version=0))
    root = tmp_path / "csv" / "version_0" / "xai"
    pngs = sorted(
        (root / "images" / "xai" / "attributions" / "saliency" / "sample_01").glob("*.png")
    )
    assert [p.name for p in pngs] == ["step_000004.png", "step_000008.png"]
    records = [json.loads(line) for line in (root / "scalars.jsonl").read_text().splitlines()]
    assert [(r["tag"], r["step"], r["value"]) for r in records] == [
        ("xai/epoch", 4, 0.0),
        ("xai/time/saliency", 4, records[1]["value"]),
        ("xai/epoch", 8, 1.0),
        ("xai/time/saliency", 8, records[3]["value"]),
    ]


def test_a_failing_method_warns_and_training_goes_on(tmp_path: Path) -> None:
    class Broken:
        def __init__(self, model):
            pass

        def attribute(self, inputs, target=None):
            raise RuntimeError("broken on purpose")

    register_method(MethodSpec("BrokenMethod", Broken), overwrite=True)
    monitor = AttributionMonitor(methods=["BrokenMethod", "Saliency"], num_probes=2)
    with pytest.warns(RuntimeWarning, match="broken_method failed at step 4"):
        trainer, _ = _fit(tmp_path, monitor)
    assert trainer.current_epoch == 2 and monitor.errors["broken_method"] == 2
    events = read_events(tmp_path / "tb" / "version_0")
    assert [e.value for e in events.Scalars("xai/errors/broken_method")] == [1, 2]
    assert len(events.Images("xai/attributions/saliency/sample_00")) == 2

    strict = AttributionMonitor(methods=["BrokenMethod"], num_probes=2, on_error="raise")
    with pytest.raises(RuntimeError, match="broken on purpose"):
        _fit(tmp_path / "strict", strict)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"methods": ["IntegratedGradient"]}, ValueError, "Known methods: .*IntegratedGradients"),
        ({"methods": {"ig": {"method": "IntegratedGradients", "steps": 3}}}, ValueError, "n_steps"),
        ({"methods": []}, ValueError, "empty"),
        ({"methods": 3}, TypeError, "methods"),
        ({"methods": ["Saliency", "saliency"]}, ValueError, "more than once"),
        ({"methods": {"Saliency": {"layer": "net.conv1"}}}, ValueError, "takes no `layer`"),
        ({"methods": {"Saliency": {"noise_tunnel": "smooth"}}}, ValueError, "smoothgrad_sq"),
        ({"target": "predicted"}, ValueError, "pred"),
        ({"target": 1.5}, TypeError, "target"),
        ({"every_n_epochs": 0}, ValueError, "every_n_epochs"),
        ({"on_error": "ignore"}, ValueError, "on_error"),
        ({"view": "overlay"}, ValueError, "blended_heat_map"),
        ({"num_probes": 0}, ValueError, "AttributionMonitor: `num_probes`"),
    ],
)
def test_bad_arguments_fail_in_init(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AttributionMonitor(**kwargs)


def test_missing_layer_fails_in_setup_listing_layers(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods={"LayerGradCam": {"layer": "net.conv9"}})
    model = LitClassifier()
    with pytest.raises(ValueError, match=r"'net.conv9'.*Valid layers: \['net', 'net.conv1'"):
        make_trainer(tmp_path, [monitor]).fit(model, datamodule=DigitsData())
    assert model.global_step == 0


def test_unreadable_batch_fails_before_the_first_training_step(tmp_path: Path) -> None:
    class DictData(DigitsData):
        def val_dataloader(self):
            from torch.utils.data import DataLoader

            return DataLoader([{"pixels": x} for x, _ in self.val_set], batch_size=8)

    class DictModel(LitClassifier):
        def validation_step(self, batch, batch_idx):
            self(batch["pixels"])

    model = DictModel()
    monitor = AttributionMonitor(methods=["Saliency"])
    with pytest.raises(TypeError, match="batch_transform"):
        make_trainer(tmp_path, [monitor], num_sanity_val_steps=0).fit(model, datamodule=DictData())
    assert model.global_step == 0
    fixed = AttributionMonitor(
        methods=["Saliency"], batch_transform=lambda b: (b["pixels"], None), num_probes=2
    )
    make_trainer(tmp_path, [fixed], max_epochs=1).fit(DictModel(), datamodule=DictData())
    assert fixed.latest["Saliency"].shape == (2, 1, 8, 8)


def test_no_validation_step_is_a_misconfiguration(tmp_path: Path) -> None:
    class NoVal(LitClassifier):
        validation_step = pl.LightningModule.validation_step  # not overridden

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MisconfigurationException, match="validation_step"):
            make_trainer(tmp_path, [AttributionMonitor()]).fit(NoVal(), datamodule=DigitsData())


def test_every_n_epochs_and_label_target(tmp_path: Path) -> None:
    monitor = AttributionMonitor(
        methods=["Saliency"], target="label", every_n_epochs=2, num_probes=3
    )
    _fit(tmp_path, monitor, max_epochs=4)
    steps = [
        e.step for e in read_events(tmp_path / "tb" / "version_0").Images("xai/panels/sample_00")
    ]
    assert steps == [8, 16]
