"""Model quirks found before training: reused in-place ReLU (ResNet) and functional F.relu."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from captum.attr import DeepLift, LayerDeepLift
from torch import Tensor, nn

from lightning_xai import AttributionMonitor
from lightning_xai.methods import ModelSurvey
from lightning_xai.methods.quirks import per_call_copies
from tests.support.helpers import DigitsData, LitClassifier, TinyConvNet, make_trainer


class TinyResNet(nn.Module):
    """torchvision's BasicBlock pattern: one ``ReLU(inplace=True)`` called three times."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.stem(x))
        out = self.relu(self.conv1(x))
        out = self.relu(self.conv2(out) + x)
        return self.fc(self.pool(out).flatten(1))


class FixedResNet(TinyResNet):
    """The same network with one ReLU module per call: what DeepLift needs."""

    def __init__(self) -> None:
        super().__init__()
        self.relus = nn.ModuleList(nn.ReLU(inplace=True) for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        x = self.relus[0](self.stem(x))
        out = self.relus[1](self.conv1(x))
        out = self.relus[2](self.conv2(out) + x)
        return self.fc(self.pool(out).flatten(1))


class FunctionalNet(nn.Module):
    """Seed 000's style: ``F.relu`` in ``forward``, no ReLU module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(F.relu(self.conv(x)).flatten(1))


class _StopAtFirstStep(pl.Callback):
    def on_train_batch_start(self, *args: object) -> None:
        raise _Stopped


class _Stopped(Exception):
    pass


def test_deeplift_on_a_reused_inplace_relu_works_through_per_call_copies(tmp_path: Path) -> None:
    net = TinyResNet()
    with pytest.raises(RuntimeError, match="used more than once"):  # the quirk, in plain Captum
        DeepLift(net.eval()).attribute(torch.rand(2, 1, 8, 8), target=0)
    relu = net.relu
    monitor = AttributionMonitor(
        methods={"DeepLift": None, "LayerDeepLift": {"layer": "net.conv1"}, "DeepLiftShap": None},
        num_probes=3,
        on_error="raise",
    )
    model = LitClassifier(net)
    make_trainer(tmp_path, [monitor], max_epochs=1, limit_train_batches=2).fit(
        model, datamodule=DigitsData()
    )
    # The promise: the same attributions as Captum on the network with one ReLU per call.
    fixed = FixedResNet()
    fixed.load_state_dict(net.state_dict(), strict=False)
    fixed.eval()
    x = monitor.probe.inputs.clone()
    target = fixed(x).argmax(1)
    torch.testing.assert_close(
        monitor.latest["DeepLift"], DeepLift(fixed).attribute(x, target=target)
    )
    layer = LayerDeepLift(fixed, fixed.conv1).attribute(x, target=target).sum(1, keepdim=True)
    torch.testing.assert_close(monitor.latest["LayerDeepLift"], layer)
    assert monitor.latest["DeepLiftShap"].abs().sum() > 0
    # ... and the user's model is left as it was: same ReLU object, no stand-in, no hook.
    assert net.relu is relu and dict(net.named_children())["relu"] is relu
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in net.modules())


def test_per_call_copies_restore_the_model_on_error() -> None:
    net = TinyResNet().eval()
    before = dict(net.named_modules())
    survey = ModelSurvey.run(net, torch.rand(2, 1, 8, 8))
    assert survey.deeplift_reused() == {"relu": 3}
    with pytest.raises(KeyError), per_call_copies(net, survey.deeplift_reused()):
        assert type(net.relu).__name__ == "_PerCall"
        DeepLift(net).attribute(torch.rand(2, 1, 8, 8), target=1)  # works inside
        raise KeyError("boom")
    assert dict(net.named_modules()) == before and not net._forward_pre_hooks


def test_layer_method_on_a_reused_module_warns_and_deeplift_on_it_fails(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods={"LayerGradCam": {"layer": "net.relu"}}, num_probes=2)
    with pytest.warns(UserWarning, match=r"'net.relu' is called 3 times per forward"):
        make_trainer(tmp_path, [monitor], max_epochs=1, limit_train_batches=1).fit(
            LitClassifier(TinyResNet()), datamodule=DigitsData()
        )
    bad = AttributionMonitor(methods={"LayerDeepLift": {"layer": "net.relu"}}, num_probes=2)
    model = LitClassifier(TinyResNet())
    with pytest.raises(ValueError, match=r"LayerDeepLift.*'net.relu' is an activation called 3"):
        make_trainer(tmp_path, [bad]).fit(model, datamodule=DigitsData())
    assert model.global_step == 0


@pytest.mark.parametrize("method", ["DeepLift", "GuidedBackprop", "NeuronDeconvolution"])
def test_functional_relu_warns_before_the_first_training_step(tmp_path: Path, method: str) -> None:
    options = {"layer": "net.conv", "neuron_selector": (0, 1, 1)} if "Neuron" in method else {}
    monitor = AttributionMonitor(methods={method: options}, num_probes=2)
    trainer = make_trainer(tmp_path, [monitor, _StopAtFirstStep()], num_sanity_val_steps=0)
    with (
        pytest.warns(
            UserWarning, match=rf"(?s){method}\): .*relu called in FunctionalNet.forward \(1 call\)"
        ),
        pytest.raises(_Stopped),
    ):
        trainer.fit(LitClassifier(FunctionalNet()), datamodule=DigitsData())


def test_no_quirk_warning_for_relu_modules(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods=["DeepLift", "GuidedBackprop"], num_probes=2)
    trainer = make_trainer(tmp_path, [monitor, _StopAtFirstStep()], num_sanity_val_steps=0)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(_Stopped):
        warnings.simplefilter("always")
        trainer.fit(LitClassifier(TinyConvNet()), datamodule=DigitsData())
    assert not [w for w in caught if "AttributionMonitor" in str(w.message)]


def test_survey_sees_functional_calls_and_shapes() -> None:
    net = FunctionalNet()
    survey = ModelSurvey.run(net, torch.rand(3, 1, 8, 8))
    assert survey.output_shapes["conv"] == (3, 4, 6, 6) and survey.calls["fc"] == 1
    assert survey.unrewritten("deeplift") == {"relu in the model's forward": 1}
    seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2), nn.Softmax(dim=1))
    assert ModelSurvey.run(seq, torch.rand(2, 4)).unrewritten("deeplift") == {}
    gelu = nn.Sequential(nn.Linear(4, 4), nn.GELU())
    assert ModelSurvey.run(gelu, torch.rand(2, 4)).unrewritten("deeplift") == {
        "gelu in GELU '1'": 1
    }
    assert ModelSurvey.run(copy.deepcopy(gelu), torch.rand(2, 4)).unrewritten("guided") == {}
