from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_xai.methods.chunking import ChunkTuner, is_out_of_memory, with_oom_retry
from tests.support.helpers import TinyConvNet


def test_calibration_picks_a_candidate_once_per_shape() -> None:
    tuner = ChunkTuner(backward=True)
    net = TinyConvNet().eval()
    x = torch.rand(8, 1, 8, 8)
    rows = tuner.rows(net, x, work_rows=8 * 50)
    assert rows in (8, 16, 32, 64, 128, 256, 400)
    assert tuner.rows(net, x, work_rows=8 * 50) == rows and len(tuner.choices) == 1
    assert tuner.rows(net, x[:4], work_rows=4) == 4  # the whole work is one probe pass
    assert all(p.grad is None for p in net.parameters())


def test_forward_only_calibration_needs_no_grad() -> None:
    with torch.no_grad():
        rows = ChunkTuner(backward=False).rows(nn.Linear(3, 2), torch.rand(5, 3), work_rows=100)
    assert 5 <= rows <= 100


def test_out_of_memory_halves_and_retries() -> None:
    tuner = ChunkTuner()
    tuner.choices[(8, 3)] = 64
    tried: list[int] = []

    def run(rows: int) -> torch.Tensor:
        tried.append(rows)
        if rows > 16:
            raise RuntimeError("CUDA error: out of memory")
        return torch.full((1,), float(rows))

    x = torch.zeros(8, 3)
    result = with_oom_retry(run, tuner.choices[(8, 3)], lambda: tuner.shrink(x))
    assert tried == [64, 32, 16] and result.item() == 16 and tuner.choices[(8, 3)] == 16


def test_other_errors_are_not_retried() -> None:
    def run(rows: int) -> torch.Tensor:
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError, match="shape mismatch"):
        with_oom_retry(run, 8, lambda: 4)
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert not is_out_of_memory(RuntimeError("other"))


def test_the_monitor_calibrates_and_attributes_the_same(tmp_path) -> None:
    from captum.attr import IntegratedGradients

    from lightning_xai import AttributionMonitor
    from tests.support.helpers import DigitsData, LitClassifier, make_trainer

    monitor = AttributionMonitor(
        methods={"IntegratedGradients": {"n_steps": 16}, "Occlusion": None},
        num_probes=4,
        calibrate_chunks=True,
    )
    model = LitClassifier()
    make_trainer(tmp_path, [monitor], max_epochs=1).fit(model, datamodule=DigitsData())
    for method in monitor.methods:
        ((shape, rows),) = method.tuner.choices.items()
        assert shape == (4, 1, 8, 8) and 4 <= rows <= 1024
    model.eval()
    x = monitor.probe.inputs.clone()
    expected = IntegratedGradients(model).attribute(x, target=model(x).argmax(1), n_steps=16)
    torch.testing.assert_close(monitor.latest["IntegratedGradients"], expected.detach())


@pytest.mark.parametrize("noise_tunnel", [None, {"nt_samples": 4}])
def test_our_chunk_defaults_never_trigger_captums_batch_size_notice(noise_tunnel) -> None:
    """Captum warns "Internal batch size cannot be less than the number of input examples"
    when asked for fewer rows than it is given (a probe of 150, or NoiseTunnel's copies)."""
    import warnings

    from lightning_xai.methods.selection import configure_methods

    options = {"method": "IntegratedGradients", "n_steps": 2}
    if noise_tunnel:
        options["noise_tunnel"] = noise_tunnel
    (method,) = configure_methods({"ig": options})
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    method.bind(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attribution = method.attribute(torch.rand(150, 3), torch.zeros(150, dtype=torch.long))
    assert attribution.shape == (150, 3)
