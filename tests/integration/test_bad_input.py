"""Bad configurations and bad data: each fails before the first training step with a message
naming the class, the argument, what was given and what is valid; data that goes bad during
training is a warning and a counted error, and training carries on."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_xai import AttentionMonitor, AttributionMonitor, FeatureMapMonitor
from tests.support.helpers import DigitsData, LitClassifier, make_trainer, read_events

A, F = AttributionMonitor, FeatureMapMonitor
IG = "IntegratedGradients"
NAN_PROBE = torch.full((2, 1, 8, 8), float("nan"))

# id -> (constructor call, error, pattern): class, `argument`, what was given.
CONSTRUCTOR_CASES: dict[str, tuple[Callable[[], Any], type, str]] = {
    "methods of a wrong type": (lambda: A(methods=42), TypeError, r"A\w+: `methods` must be .*int"),
    "no methods": (lambda: A(methods=[]), ValueError, r"`methods` is empty"),
    "unknown method": (lambda: A(methods=["Magic"]), ValueError, r"`methods` entry 'Magic'"),
    "options not a mapping": (
        lambda: A(methods={"Saliency": 3}), TypeError, r"options of method 'Saliency' .*got int"
    ),
    "unknown option": (
        lambda: A(methods={"Saliency": {"bogus": 1}}), ValueError, r"\['bogus'\]. Valid options"
    ),
    "layer on a primary method": (
        lambda: A(methods={"Saliency": {"layer": "net.conv1"}}), ValueError,
        r"'Saliency' \(Saliency\) takes no `layer`, got 'net.conv1'",
    ),
    "layer not a name": (
        lambda: A(methods={"LayerGradCam": {"layer": 3}}), TypeError,
        r"'LayerGradCam' \(LayerGradCam\): `layer` must be a dotted module name \(str\), got int",
    ),
    "baselines on Saliency": (
        lambda: A(methods={"Saliency": {"baselines": 0}}), ValueError, r"takes no `baselines`"
    ),
    "neuron method without selector": (
        lambda: A(methods={"NeuronGradient": {"layer": "net.conv1"}}), ValueError,
        r"NeuronGradient.*needs `neuron_selector`.*got none",
    ),
    "selector of a wrong type": (
        lambda: A(methods={"NeuronGradient": {"layer": "net.conv1", "neuron_selector": "a"}}),
        TypeError, r"`neuron_selector` must be an int, .*got 'a'",
    ),
    "selector on a primary method": (
        lambda: A(methods={"Saliency": {"neuron_selector": 0}}), ValueError,
        r"takes no `neuron_selector`, got 0",
    ),
    "unknown noise type": (
        lambda: A(methods={"Saliency": {"noise_tunnel": "loud"}}), ValueError,
        r"`noise_tunnel` type of method 'Saliency' must be one of .*got 'loud'",
    ),
    "unknown noise option": (
        lambda: A(methods={"Saliency": {"noise_tunnel": {"bogus": 1}}}), ValueError,
        r"`noise_tunnel` of method 'Saliency' got unknown options \['bogus'\]",
    ),
    "one method twice": (
        lambda: A(methods=["Saliency", "saliency"]), ValueError, r"\['saliency'\] more than once"
    ),
    "zero steps": (
        lambda: A(methods={IG: {"n_steps": 0}}), ValueError,
        r"'Integ.*`n_steps` must be >= 1, got 0",
    ),
    "zero noise samples": (
        lambda: A(methods={"NoiseTunnel(Saliency)": {"noise_tunnel": {"nt_samples": 0}}}),
        ValueError, r"`nt_samples` must be >= 1, got 0",
    ),
    "unknown target": (
        lambda: A(target="bogus"), ValueError, r"`target` must be one of .*got 'bogus'"
    ),
    "negative target": (lambda: A(target=-1), ValueError, r"`target` class index .*got -1"),
    "unknown view": (lambda: A(view="3d"), ValueError, r"`view` must be one of .*got '3d'"),
    "unknown sign": (lambda: A(sign="up"), ValueError, r"`sign` must be one of .*got 'up'"),
    "outlier percentage": (
        lambda: A(outlier_perc=150), ValueError, r"`outlier_perc` must lie in \[0, 100\), got 150"
    ),
    "denormalize of three": (
        lambda: A(denormalize=(1, 2, 3)), ValueError, r"`denormalize` must be \(mean, std\)"
    ),
    "denormalize by zero": (
        lambda: A(denormalize=([0.5], [0.0])), ValueError, r"`denormalize` std .*got \[0.0\]"
    ),
    "feature names as one string": (
        lambda: A(feature_names="abc"), TypeError, r"`feature_names` must be .*got 'abc'"
    ),
    "output transform not callable": (
        lambda: A(output_transform=3), TypeError, r"`output_transform` must be a callable.*int"
    ),
    "unknown metric": (lambda: A(metrics=["beauty"]), ValueError, r"`metrics` entry 'beauty'"),
    "metric option": (
        lambda: A(metrics={"infidelity": {"n_perturb_samples": 0}}), ValueError,
        r"`n_perturb_samples` of metric 'infidelity' must be a positive int, got 0",
    ),
    "negative budget": (lambda: A(max_seconds=-1), ValueError, r"`max_seconds` must be > 0.*-1"),
    "image size zero": (lambda: A(image_size=0), ValueError, r"`image_size` must be .*got 0"),
    "calibrate as text": (
        lambda: A(calibrate_chunks="yes"), TypeError, r"`calibrate_chunks` must be True, .*'yes'"
    ),
    "pad id as text": (lambda: A(pad_id="x"), TypeError, r"`pad_id` must be .*got 'x'"),
    "no probes": (lambda: A(num_probes=0), ValueError, r"`num_probes` must be >= 1, got 0"),
    "probe seed as text": (
        lambda: A(probe_seed="x"), TypeError, r"A\w+: `probe_seed` must be an int, got str"
    ),
    "NaN probe tensor": (lambda: A(probe=NAN_PROBE), ValueError, r"of `probe` hold NaN or inf"),
    "every zero epochs": (lambda: A(every_n_epochs=0), ValueError, r"`every_n_epochs` .*got 0"),
    "unknown on_error": (
        lambda: A(on_error="ignore"), ValueError, r"`on_error` must be one of .*got 'ignore'"
    ),
    "name not a string": (lambda: A(name=3), TypeError, r"`name` must be a string or None.*int"),
    "layers of a wrong type": (lambda: F(layers=3), TypeError, r"F\w+: `layers` must be .*got 3"),
    "sample position": (lambda: F(samples=(-1,)), ValueError, r"`samples` .*got \[-1\]"),
    "zero channels": (lambda: F(max_channels=0), ValueError, r"`max_channels` must be >= 1, got 0"),
    "unknown normalize": (lambda: F(normalize="x"), ValueError, r"`normalize` .*got 'x'"),
    "unknown kernel view": (lambda: F(kernel_view="x"), ValueError, r"`kernel_view` .*got 'x'"),
    "tile size zero": (lambda: F(tile_size=0), ValueError, r"`tile_size` must be >= 1, got 0"),
    "unknown colormap": (lambda: F(colormap="nope"), ValueError, r"`colormap`.*'nope'. Known"),
    "activation not callable": (lambda: F(activation=3), TypeError, r"`activation` .*got int"),
    "attention layers of a wrong type": (
        lambda: AttentionMonitor(layers=3), TypeError, r"AttentionMonitor: `layers` .*got 3"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CONSTRUCTOR_CASES))
def test_a_bad_argument_fails_in_the_constructor(case: str) -> None:
    make, error, pattern = CONSTRUCTOR_CASES[case]
    with pytest.raises(error, match=pattern):
        make()


class _Stop(Exception):
    pass


class _StopAtFirstStep(pl.Callback):
    def on_train_batch_start(self, *args: object) -> None:
        raise _Stop


class _NoValidation(LitClassifier):
    validation_step = pl.LightningModule.validation_step  # type: ignore[assignment]


class _UnscoredValidation(LitClassifier):
    """Validation that never reads the labels (so out-of-range labels do not break it)."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self(batch[0])


def _data(x_fix: Callable[[Tensor], None] = lambda x: None, label: int | None = None) -> DigitsData:
    data = DigitsData(n_train=64, n_val=32)
    x, y = (t.clone() for t in data.val_set.tensors)
    x_fix(x)
    if label is not None:
        y[:] = label
    data.val_set = TensorDataset(x, y)
    return data


def _nan_rows(x: Tensor) -> None:
    x[:] = float("nan")


SAL = {"methods": ["Saliency"], "num_probes": 2}
# id -> (monitor, model, data, Trainer options, error, pattern); all before the first step.
SETUP_CASES: dict[str, tuple[Callable[[], pl.Callback], Any, Any, dict[str, Any], type, str]] = {
    "layer not in the model": (
        lambda: A(methods={"LayerGradCam": {"layer": "net.nope"}}, num_probes=2),
        LitClassifier, _data, {}, ValueError,
        r"`layer` 'net.nope' is not a module of LitClassifier. Valid layers: \['net', ",
    ),
    "layer without spatial output": (
        lambda: A(methods={"GradCamPlusPlus": {"layer": "net.fc"}}, num_probes=2),
        LitClassifier, _data, {}, ValueError,
        r"`layer` 'net.fc' outputs shape \(2, 10\), without spatial dimensions",
    ),
    "neuron out of range": (
        lambda: A(methods={"NeuronGradient": {"layer": "net.conv1", "neuron_selector": (99, 0, 0)}},
                  num_probes=2),
        LitClassifier, _data, {}, ValueError, r"`neuron_selector` \(99, 0, 0\) is out of range",
    ),
    "occlusion window": (
        lambda: A(methods={"Occlusion": {"sliding_window_shapes": (1, 3)}}, num_probes=2),
        LitClassifier, _data, {}, ValueError,
        r"`sliding_window_shapes` must be a tuple of 3 ints, .*\(1, 8, 8\).*got \(1, 3\)",
    ),
    "feature map layer missing": (
        lambda: F(layers=["net.nope"], num_probes=2), LitClassifier, _data, {}, ValueError,
        r"FeatureMapMonitor: `layers` names 'net.nope', which is not a submodule",
    ),
    "no validation_step": (
        lambda: A(**SAL), _NoValidation, _data, {}, MisconfigurationException,
        r"_NoValidation defines no `validation_step`",
    ),
    "no validation batches": (
        lambda: A(**SAL), LitClassifier, _data, {"limit_val_batches": 0},
        MisconfigurationException, r"`limit_val_batches=0`",
    ),
    "probe index beyond the data": (
        lambda: A(methods=["Saliency"], probe=[0, 999]), LitClassifier, _data, {}, ValueError,
        r"`probe` holds indices \[999\] outside the validation dataset of 32 samples",
    ),
    "NaN in the validation data": (
        lambda: A(**SAL), LitClassifier, lambda: _data(_nan_rows), {}, ValueError,
        r"AttributionMonitor: the probe samples at indices .* hold NaN or inf",
    ),
    "label out of range as target": (
        lambda: A(**SAL, target="label"), _UnscoredValidation, lambda: _data(label=42), {},
        ValueError, r"`target` class indices must lie in \[0, 9\] .*got values in \[42, 42\]",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SETUP_CASES))
def test_a_bad_setup_fails_before_the_first_step(case: str, tmp_path: Path) -> None:
    monitor, model_class, data, options, error, pattern = SETUP_CASES[case]
    model = model_class()
    trainer = make_trainer(
        tmp_path, [monitor(), _StopAtFirstStep()], num_sanity_val_steps=0, **options
    )
    with warnings.catch_warnings(), pytest.raises(error, match=pattern):
        warnings.simplefilter("ignore")
        trainer.fit(model, datamodule=data())
    assert model.global_step == 0


def test_a_chosen_layer_with_1x1_output_warns_before_training(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 8), nn.ReLU(), nn.Flatten(), nn.Linear(4, 10))
    monitor = A(methods={"LayerGradCam": {"layer": "net.0"}}, num_probes=2)
    trainer = make_trainer(tmp_path, [monitor, _StopAtFirstStep()], num_sanity_val_steps=0)
    with (
        pytest.warns(UserWarning, match=r"`layer` 'net.0' outputs 1x1 maps .*uniform tint"),
        pytest.raises(_Stop),
    ):
        trainer.fit(LitClassifier(net), datamodule=_data())


def _fit_and_count(
    tmp_path: Path, model: pl.LightningModule, data: pl.LightningDataModule, **options: Any
) -> tuple[pl.Trainer, list[Any], list[str]]:
    """Fits with an AttributionMonitor and a FeatureMapMonitor; returns the trainer, the
    monitors and their warnings."""
    monitors = [A(**SAL), F(num_probes=2, histograms=False)]
    trainer = make_trainer(tmp_path, monitors, num_sanity_val_steps=0, **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, datamodule=data)
    texts = [str(w.message) for w in caught if "Monitor" in str(w.message)]
    return trainer, monitors, texts


def _error_tags(tmp_path: Path) -> set[str]:
    scalars = read_events(tmp_path / "tb" / "version_0").Tags()["scalars"]
    return {t for t in scalars if t.startswith("xai/errors/")}


def test_a_nan_training_batch_is_counted_and_training_goes_on(tmp_path: Path) -> None:
    data = DigitsData(n_train=64, n_val=32)
    x, y = (t.clone() for t in data.train_set.tensors)
    x[3] = float("nan")  # the weights turn NaN at the first step
    data.train_set = TensorDataset(x, y)
    trainer, (attribution, features), texts = _fit_and_count(tmp_path, LitClassifier(), data)
    assert trainer.current_epoch == 2  # both epochs ran
    assert attribution.errors["run"] == 2 and attribution.runs == 2
    assert features.errors["net.conv1"] == 2
    assert any("outputs on the probe hold NaN or inf" in t for t in texts)
    assert {"xai/errors/run", "xai/errors/net.conv1"} <= _error_tags(tmp_path)


def test_a_model_that_starts_returning_nan_is_counted(tmp_path: Path) -> None:
    class Diverging(LitClassifier):
        def forward(self, x: Tensor) -> Tensor:
            out = self.net(x)
            return out * float("nan") if self.current_epoch >= 1 else out

    trainer, (attribution, features), texts = _fit_and_count(tmp_path, Diverging(), _data())
    assert trainer.current_epoch == 2
    assert attribution.errors == {"run": 1}  # the NaN loss turned the weights NaN too:
    assert features.errors == {"net.conv1": 1, "net.conv2": 1}
    assert sum(f"run failed at step {trainer.global_step}" in t for t in texts) == 1
    assert _error_tags(tmp_path) == {
        "xai/errors/run",
        "xai/errors/net.conv1",
        "xai/errors/net.conv2",
    }


def test_an_empty_validation_epoch_is_counted(tmp_path: Path) -> None:
    class Emptied(DigitsData):
        loads = 0

        def val_dataloader(self) -> DataLoader:
            Emptied.loads += 1
            x, y = self.val_set.tensors
            n = 0 if Emptied.loads >= 3 else len(x)  # the third epoch's loader is empty
            return DataLoader(TensorDataset(x[:n], y[:n]), batch_size=32)

    trainer, monitors, texts = _fit_and_count(
        tmp_path, LitClassifier(), Emptied(n_train=64, n_val=32), max_epochs=3,
        reload_dataloaders_every_n_epochs=1,
    )  # fmt: skip
    assert trainer.current_epoch == 3
    assert all(m.runs == 2 and m.errors == {"validation": 1} for m in monitors)
    step = trainer.global_step
    assert any(f"validation failed at step {step}" in t and "ran no batches" in t for t in texts)
    assert _error_tags(tmp_path) == {"xai/errors/validation"}


def test_probe_labels_out_of_range_warn_once_and_the_runs_go_on(tmp_path: Path) -> None:
    _, (attribution, _), texts = _fit_and_count(tmp_path, _UnscoredValidation(), _data(label=42))
    assert attribution.runs == 2 and not attribution.errors
    assert sum("labels [42] lie outside the model's 10 outputs [0, 9]" in t for t in texts) == 1
