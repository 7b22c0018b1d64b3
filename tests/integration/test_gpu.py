"""On a CUDA device: the monitors' results, the chunk calibration bounded by free memory, the
out-of-memory retry, and the guard. Skipped where no GPU is present."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from lightning_xai import AttributionMonitor, FeatureMapMonitor
from lightning_xai.methods import ConfiguredMethod
from tests.support.helpers import DigitsData, LitClassifier, make_trainer, read_events

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _fit(root: Path, callbacks: list, data: DigitsData) -> LitClassifier:
    torch.manual_seed(0)
    model = LitClassifier()
    trainer = make_trainer(root, callbacks, accelerator="gpu", devices=1)
    trainer.fit(model, data)
    return model


def test_monitors_on_a_gpu_equal_captum_and_leave_training_unchanged(
    tmp_path: Path, data: DigitsData
) -> None:
    monitor = AttributionMonitor(methods=["IntegratedGradients", "Saliency"], num_probes=8)
    model = _fit(tmp_path / "monitored", [monitor, FeatureMapMonitor(num_probes=8)], data)
    plain = _fit(tmp_path / "plain", [], data)
    after = plain.state_dict()
    for name, value in model.state_dict().items():  # the guard, bitwise, on the GPU
        assert torch.equal(value, after[name]), name

    x = monitor.probe.inputs
    assert x.device.type == "cuda"
    ig = next(m for m in monitor.methods if m.key == "IntegratedGradients")
    rows = ig.tuner.choices[tuple(x.shape)]  # calibrated on CUDA by default
    assert rows >= x.shape[0]
    model = model.to(x.device).eval()  # Lightning's teardown moved it back to the CPU
    with torch.no_grad():
        target = model(x).argmax(1)
    expected = IntegratedGradients(model).attribute(x, target=target, internal_batch_size=rows)
    torch.testing.assert_close(monitor.latest["IntegratedGradients"], expected.cpu())
    saliency = Saliency(model).attribute(x, target=target, abs=True)
    torch.testing.assert_close(monitor.latest["Saliency"], saliency.cpu())
    events = read_events(tmp_path / "monitored" / "tb" / "version_0")
    assert "xai/panels/sample_07" in events.Tags()["images"]


@pytest.fixture
def nondeterministic() -> Iterator[None]:
    """Earlier fits (``deterministic=True``) leave deterministic algorithms on globally;
    adaptive average pooling has no deterministic CUDA backward."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    yield
    torch.use_deterministic_algorithms(before)


@pytest.mark.usefixtures("nondeterministic")
def test_an_out_of_memory_error_halves_the_chunk_and_retries() -> None:
    device = torch.device("cuda")
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(64, 10),
    ).to(device).eval()  # fmt: skip
    x = torch.rand(16, 3, 128, 128, device=device)
    target = torch.arange(16, device=device) % 10
    method = ConfiguredMethod("IntegratedGradients", {"n_steps": 256})
    method.bind(model)
    # 4,096 rows of 3x128x128 need ~16 GB of activations: more than the 2 GB allowed below.
    method.tuner.choices[tuple(x.shape)] = 4096
    total = torch.cuda.mem_get_info(device)[1]
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(min(1.0, 2 * 2**30 / total), device)
    try:
        got = method.attribute(x, target)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        torch.cuda.empty_cache()
    assert method.tuner.choices[tuple(x.shape)] < 4096  # halved until it fit
    expected = IntegratedGradients(model).attribute(
        x, target=target, n_steps=256, internal_batch_size=64
    )
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
