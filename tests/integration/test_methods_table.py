"""Every registered method, in a real Trainer, on a small CNN and a tabular MLP, against a
direct call of the algorithm on the same probe (same seed where it draws random numbers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum import attr as A
from torch import Tensor, nn

from lightning_xai import AttributionMonitor, get_method, list_methods
from lightning_xai.methods import GradCamPlusPlus
from lightning_xai.methods.captum_catalog import CAPTUM_METHODS
from tests.support.helpers import DigitsData, LitClassifier, make_trainer, read_events
from tests.support.tabular import DiabetesData, LitRegressor

PROBES = 3


@dataclass
class Case:
    """What a direct call needs: model (eval), probe, targets, layer, neuron, defaults."""

    model: nn.Module
    x: Tensor
    t: Tensor | None
    layer: nn.Module
    neuron: Any
    mask: Tensor | None  # the monitor's default feature mask (image patches); None: per column
    window: tuple[int, ...]  # the monitor's default occlusion window

    @property
    def zero(self) -> Tensor:
        return torch.zeros_like(self.x[:1])


Expect = Callable[[Case], Tensor]
# name -> (options, direct call). Options for layer/neuron are added per model below.
ROWS: dict[str, tuple[dict[str, Any], Expect]] = {
    "IntegratedGradients": (
        {"n_steps": 8},
        lambda c: A.IntegratedGradients(c.model).attribute(c.x, target=c.t, n_steps=8),
    ),
    "GradientShap": (
        {"n_samples": 3, "stdevs": 0.1},
        lambda c: A.GradientShap(c.model).attribute(
            c.x, c.zero, target=c.t, n_samples=3, stdevs=0.1
        ),
    ),
    "DeepLift": ({}, lambda c: A.DeepLift(c.model).attribute(c.x, target=c.t)),
    # DeepLiftShap's default baselines: the probe itself as the background distribution.
    "DeepLiftShap": ({}, lambda c: A.DeepLiftShap(c.model).attribute(c.x, c.x, target=c.t)),
    "GuidedGradCam": ({}, lambda c: A.GuidedGradCam(c.model, c.layer).attribute(c.x, c.t)),
    "FeatureAblation": (
        {},
        lambda c: A.FeatureAblation(c.model).attribute(c.x, target=c.t, feature_mask=c.mask),
    ),
    "GuidedBackprop": ({}, lambda c: A.GuidedBackprop(c.model).attribute(c.x, target=c.t)),
    "Deconvolution": ({}, lambda c: A.Deconvolution(c.model).attribute(c.x, target=c.t)),
    "Saliency": ({}, lambda c: A.Saliency(c.model).attribute(c.x, target=c.t)),
    "InputXGradient": ({}, lambda c: A.InputXGradient(c.model).attribute(c.x, target=c.t)),
    "FeaturePermutation": (
        {},
        lambda c: A.FeaturePermutation(c.model).attribute(c.x, target=c.t, feature_mask=c.mask),
    ),
    "Occlusion": (
        {},
        lambda c: A.Occlusion(c.model).attribute(
            c.x, sliding_window_shapes=c.window, strides=c.window, target=c.t
        ),
    ),
    "ShapleyValueSampling": (
        {"n_samples": 2},
        lambda c: A.ShapleyValueSampling(c.model).attribute(
            c.x, target=c.t, feature_mask=c.mask, n_samples=2
        ),
    ),
    "Lime": (
        {"n_samples": 20},
        lambda c: A.Lime(c.model).attribute(c.x, target=c.t, feature_mask=c.mask, n_samples=20),
    ),
    "KernelShap": (
        {"n_samples": 20},
        lambda c: A.KernelShap(c.model).attribute(
            c.x, target=c.t, feature_mask=c.mask, n_samples=20
        ),
    ),
    "LayerIntegratedGradients": (
        {"n_steps": 8},
        lambda c: A.LayerIntegratedGradients(c.model, c.layer).attribute(
            c.x, target=c.t, n_steps=8
        ),
    ),
    "LayerGradientShap": (
        {"n_samples": 3},
        lambda c: A.LayerGradientShap(c.model, c.layer).attribute(
            c.x, c.zero, target=c.t, n_samples=3
        ),
    ),
    "LayerDeepLift": ({}, lambda c: A.LayerDeepLift(c.model, c.layer).attribute(c.x, c.zero, c.t)),
    "LayerDeepLiftShap": (
        {},
        lambda c: A.LayerDeepLiftShap(c.model, c.layer).attribute(c.x, c.x, target=c.t),
    ),
    "LayerGradCam": (
        {},
        lambda c: A.LayerGradCam(c.model, c.layer).attribute(
            c.x, target=c.t, relu_attributions=True
        ),
    ),
    "LayerFeatureAblation": (
        {},
        lambda c: A.LayerFeatureAblation(c.model, c.layer).attribute(c.x, target=c.t),
    ),
    "InternalInfluence": (
        {"n_steps": 8},
        lambda c: A.InternalInfluence(c.model, c.layer).attribute(c.x, target=c.t, n_steps=8),
    ),
    "LayerConductance": (
        {"n_steps": 8},
        lambda c: A.LayerConductance(c.model, c.layer).attribute(c.x, target=c.t, n_steps=8),
    ),
    "LayerGradientXActivation": (
        {},
        lambda c: A.LayerGradientXActivation(c.model, c.layer).attribute(c.x, target=c.t),
    ),
    "LayerActivation": ({}, lambda c: A.LayerActivation(c.model, c.layer).attribute(c.x)),
    "NeuronIntegratedGradients": (
        {"n_steps": 8},
        lambda c: A.NeuronIntegratedGradients(c.model, c.layer).attribute(c.x, c.neuron, n_steps=8),
    ),
    "NeuronGradientShap": (
        {"n_samples": 3},
        lambda c: A.NeuronGradientShap(c.model, c.layer).attribute(
            c.x, c.neuron, c.zero, n_samples=3
        ),
    ),
    "NeuronDeepLift": ({}, lambda c: A.NeuronDeepLift(c.model, c.layer).attribute(c.x, c.neuron)),
    "NeuronDeepLiftShap": (
        {},
        lambda c: A.NeuronDeepLiftShap(c.model, c.layer).attribute(c.x, c.neuron, c.x),
    ),
    "NeuronGradient": ({}, lambda c: A.NeuronGradient(c.model, c.layer).attribute(c.x, c.neuron)),
    "NeuronFeatureAblation": (
        {},
        lambda c: A.NeuronFeatureAblation(c.model, c.layer).attribute(
            c.x, c.neuron, feature_mask=c.mask
        ),
    ),
    "NeuronGuidedBackprop": (
        {},
        lambda c: A.NeuronGuidedBackprop(c.model, c.layer).attribute(c.x, c.neuron),
    ),
    "NeuronDeconvolution": (
        {},
        lambda c: A.NeuronDeconvolution(c.model, c.layer).attribute(c.x, c.neuron),
    ),
    "NeuronConductance": (
        {"n_steps": 8},
        lambda c: A.NeuronConductance(c.model, c.layer).attribute(
            c.x, c.neuron, target=c.t, n_steps=8
        ),
    ),
    "GradCamPlusPlus": ({}, lambda c: GradCamPlusPlus(c.model, c.layer).attribute(c.x, c.t)),
    "NoiseTunnel(IntegratedGradients)": (
        {"n_steps": 4, "noise_tunnel": {"nt_samples": 3}},
        lambda c: A.NoiseTunnel(A.IntegratedGradients(c.model)).attribute(
            c.x, target=c.t, n_steps=4, nt_samples=3, stdevs=0.2
        ),
    ),
    "NoiseTunnel(LayerGradCam)": (
        {"noise_tunnel": {"nt_type": "smoothgrad_sq", "nt_samples": 3}},
        lambda c: A.NoiseTunnel(A.LayerGradCam(c.model, c.layer)).attribute(
            c.x,
            target=c.t,
            relu_attributions=True,
            nt_type="smoothgrad_sq",
            nt_samples=3,
            stdevs=0.2,
        ),
    ),
    # A 1-D layer of an image model: bar charts of the layer's units.
    "fc_units": (
        {"method": "LayerIntegratedGradients", "layer": "net.fc", "n_steps": 8},
        lambda c: A.LayerIntegratedGradients(c.model, c.model.net.fc).attribute(
            c.x, target=c.t, n_steps=8
        ),
    ),
}
CNN_ONLY = {"GuidedGradCam", "GradCamPlusPlus", "fc_units"}  # need spatial inputs / layers
CNN_NEURON, MLP_NEURON, MLP_LAYER = (1, 2, 3), 3, "net.2"
MAY_BE_ZERO = {
    ("cnn", "Lime"),  # Lasso (Captum's default surrogate) may drop every patch of a young model
    ("cnn", "NeuronConductance"),  # the neuron may be off (ReLU) for every probe sample
    ("mlp", "LayerGradCam"),  # one ReLU'd number per sample on a 1-D layer
}


def _algorithm(name: str) -> str:
    options = ROWS[name][0]
    return options.get("method", name.removeprefix("NoiseTunnel(").removesuffix(")"))


def test_the_table_covers_every_registered_method() -> None:
    shipped = {spec.name for spec in CAPTUM_METHODS}  # other tests register their own too
    assert {_algorithm(name) for name in ROWS} == shipped and shipped <= set(list_methods())
    assert len(shipped) == 35  # 15 primary + 10 layer + 9 neuron (Captum) + Grad-CAM++


def _options(name: str, tabular: bool) -> dict[str, Any]:
    options = dict(ROWS[name][0])
    spec = get_method(_algorithm(name))
    if tabular and spec.needs_layer:
        options.setdefault("layer", MLP_LAYER)  # the CNN's default: its last Conv2d
    if spec.needs_neuron:
        options["neuron_selector"] = MLP_NEURON if tabular else CNN_NEURON
    return options


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("cnn")
    methods = {name: _options(name, tabular=False) for name in ROWS}
    monitor = AttributionMonitor(methods=methods, num_probes=PROBES, on_error="raise")
    model = LitClassifier()
    trainer = make_trainer(
        root, [monitor], max_epochs=1, limit_train_batches=2, limit_val_batches=1,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, datamodule=DigitsData())
    model.eval()
    x = monitor.probe.inputs.clone()
    side = torch.arange(8) * 7 // 8  # the default mask: 7 x 7 patches of the 8 x 8 digits
    case = Case(
        model=model, x=x, t=model(x).argmax(1), layer=model.net.conv2, neuron=CNN_NEURON,
        mask=(side[:, None] * 7 + side[None, :])[None, None], window=(1, 2, 2),  # ceil(8 / 7)
    )  # fmt: skip
    return monitor, case, read_events(root / "tb" / "version_0")


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("mlp")
    data = DiabetesData()
    methods = {name: _options(name, tabular=True) for name in ROWS if name not in CNN_ONLY}
    monitor = AttributionMonitor(
        methods=methods, target=None, num_probes=PROBES, on_error="raise",
        feature_names=data.feature_names,
    )  # fmt: skip
    model = LitRegressor()
    trainer = make_trainer(
        root, [monitor], max_epochs=1, limit_train_batches=2, limit_val_batches=1,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    model.eval()
    x = monitor.probe.inputs.clone()
    case = Case(model, x, None, model.net[2], MLP_NEURON, mask=None, window=(1,))
    return monitor, case, read_events(root / "tb" / "version_0")


def _on_input(attribution: Tensor, x: Tensor) -> Tensor:
    """Layer maps summed over channels and upsampled, as the monitor shows them."""
    if attribution.ndim == x.ndim == 4 and attribution.shape != x.shape:
        summed = attribution.sum(dim=1, keepdim=True)
        return F.interpolate(summed, size=x.shape[2:], mode="bilinear", align_corners=False)
    return attribution


CASES = [("cnn", name) for name in ROWS] + [("mlp", n) for n in ROWS if n not in CNN_ONLY]


@pytest.mark.parametrize(("model_kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_every_method_matches_a_direct_call_and_logs_a_picture_per_probe(
    request: pytest.FixtureRequest, model_kind: str, name: str
) -> None:
    monitor, case, events = request.getfixturevalue(f"{model_kind}_run")
    torch.manual_seed(monitor.probe.seed)  # as the monitor does before each method
    np.random.seed(monitor.probe.seed)  # Layer/NeuronGradientShap draw from NumPy
    expected = _on_input(ROWS[name][1](case).detach().float(), case.x)
    got = monitor.latest[name]
    assert got.shape == expected.shape, name
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert got.abs().sum() > 0 or (model_kind, name) in MAY_BE_ZERO, f"{name} is all zeros"

    tag = monitor.methods[[m.key for m in monitor.methods].index(name)].tag
    images = set(events.Tags()["images"])
    for k in range(PROBES):
        assert f"xai/attributions/{tag}/sample_{k:02d}" in images
        assert f"xai/panels/sample_{k:02d}" in images  # tabular inputs get chart panels too
    if got.ndim == 2:  # 1-D attributions: bar charts, and per-feature curves for input features
        assert f"xai/attributions/{tag}/mean_abs" in images
        if model_kind == "mlp" and get_method(_algorithm(name)).output == "input":
            scalars = events.Scalars(f"xai/features/{tag}/bmi")
            assert scalars[-1].value == pytest.approx(float(got[:, 2].abs().mean()), rel=1e-5)
    assert not monitor.errors
