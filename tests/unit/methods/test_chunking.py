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


GRADIENT_SHAP_OPTIONS: list[dict[str, object]] = [
    {},
    {"internal_batch_size": 1},
    {"internal_batch_size": 7, "stdevs": 0.3},
    {"internal_batch_size": 4, "n_samples": 3, "stdevs": (0.1, 0.2)},
    {"internal_batch_size": 6, "stdevs": 0.1, "return_convergence_delta": True},
]


@pytest.mark.parametrize("options", GRADIENT_SHAP_OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_chunked_gradient_shap_equals_captums(options: dict) -> None:
    """Our GradientShap draws what Captum's draws (NumPy's and torch's RNG, same order) and
    takes the gradients ``internal_batch_size`` rows at a time: the same attributions,
    deltas and NumPy RNG state afterwards (two inputs, additional forward args, targets)."""
    import numpy as np
    from captum.attr import GradientShap as CaptumGradientShap

    from lightning_xai import get_method
    from lightning_xai.methods.gradient_shap import GradientShap

    from .test_conductance import _case

    net, inputs, scale, target = _case()
    baselines = (torch.randn(3, 1, 8, 8), torch.randn(3, 3))
    common = {"target": target, "additional_forward_args": (scale,)}
    reference = {k: v for k, v in options.items() if k != "internal_batch_size"}
    results, after = [], []
    for method, kwargs in ((CaptumGradientShap(net), reference), (GradientShap(net), options)):
        torch.manual_seed(1)
        np.random.seed(1)
        passes: list[int] = []
        handle = net.register_forward_pre_hook(lambda _m, a, p=passes: p.append(len(a[0])))
        results.append(method.attribute(inputs, baselines, **common, **kwargs))
        handle.remove()
        after.append(np.random.rand())
    expected, got = results
    if options.get("return_convergence_delta"):
        (got, delta), (expected, expected_delta) = got, expected
        torch.testing.assert_close(delta, expected_delta, atol=1e-5, rtol=1e-4)
    for ours, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    assert after[0] == after[1]
    rows = 5 * int(options.get("n_samples", 5))  # type: ignore[call-overload]
    size = int(options.get("internal_batch_size", rows))  # type: ignore[call-overload]
    assert max(passes[: -(-rows // size)]) <= size  # the gradient passes, before any delta
    assert get_method("GradientShap").builder is GradientShap
    assert get_method("GradientShap").chunk_arg == "internal_batch_size"


def test_the_monitor_s_gradient_shap_is_chunked_and_equals_captums_default_call() -> None:
    """Through ConfiguredMethod (rows per pass from the bytes of a row): passes of at most
    the chosen rows, in equal passes, and Captum's attributions for the same seeds."""
    import numpy as np
    from captum.attr import GradientShap as CaptumGradientShap

    from lightning_xai.methods import ConfiguredMethod

    torch.manual_seed(0)
    net = TinyConvNet().eval()
    x, target = torch.randn(16, 1, 8, 8), torch.arange(16) % 10
    method = ConfiguredMethod("GradientShap", {"n_samples": 4})
    method.bind(net)
    method.tuner.choices[tuple(x.shape)] = 24  # 64 rows: three passes of 22, 22, 20
    passes: list[int] = []
    handle = net.register_forward_pre_hook(lambda _m, a: passes.append(len(a[0])))
    torch.manual_seed(5)
    got = method.attribute(x, target)
    handle.remove()
    assert passes == [22, 22, 20]
    torch.manual_seed(5)
    np.random.seed(torch.initial_seed() % 2**32)  # what ConfiguredMethod seeds
    expected = CaptumGradientShap(net).attribute(
        x, torch.zeros(1, 1, 8, 8), n_samples=4, target=target
    )
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "name", ["IntegratedGradients", "Saliency", "InputXGradient", "DeepLift", "GuidedBackprop"]
)
def test_one_autograd_root_per_pass_gives_captums_gradients_to_the_bit(name: str) -> None:
    """ConfiguredMethod gives Captum's gradient methods ``summed_gradients`` (the gradient of
    the rows' sum, one root) for ``compute_gradients`` (one root per row): equal results."""
    from captum import attr as A

    from lightning_xai.methods import ConfiguredMethod
    from lightning_xai.methods.gradients import summed_gradients

    torch.manual_seed(0)
    net = TinyConvNet().eval()
    x, target = torch.randn(6, 1, 8, 8), torch.arange(6)
    options = {"n_steps": 5, "internal_batch_size": 12} if name == "IntegratedGradients" else {}
    method = ConfiguredMethod(name, options)
    method.bind(net)
    assert method._algorithm.gradient_func is summed_gradients
    got = method.attribute(x, target)
    expected = getattr(A, name)(net).attribute(x.clone(), target=target, **options)
    assert torch.equal(got, expected)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        # 50 steps x 32 probes at 113 rows: 12 passes of 4 steps (128 rows) and one of 2,
        # where ceil's 3 steps per pass made 16 of 96 rows and one of 64.
        ("IntegratedGradients", {}, [128] * 12 + [64]),
        # 10 noise samples x 32 probes: 4 + 4 + 2 samples (ceil: 3 + 3 + 3 + 1).
        ("NoiseTunnel(Saliency)", {}, [128, 128, 64]),
        # 5 samples x 32 probes = 160 rows: one pass, as Captum's own call (ceil: 80 + 80).
        ("GradientShap", {}, [160]),
        # A value the user sets stays a bound on the rows per pass.
        ("IntegratedGradients", {"internal_batch_size": 96}, [96] * 16 + [64]),
        # Captum's unperturbed pass, then 16 windows (2x2 on 8x8) x 32 probes: 4 passes of 4
        # windows (rows // N: 5 of 3 windows and one of 1).
        ("Occlusion", {}, [32] + [128] * 4),
        # 49 patches: 13 passes of 4 (rows // N: 16 of 3 and one of 1).
        ("FeatureAblation", {}, [32] + [128] * 12 + [32]),
    ],
)
def test_the_monitor_s_passes_are_balanced(name: str, options: dict, expected: list) -> None:
    """The monitor's rows per pass (113 here) are a size to come near, not a bound: its work
    is cut into ``round(work / rows)`` passes of whole steps, noise samples, windows, features
    or rows."""
    from lightning_xai.methods import ConfiguredMethod

    net = TinyConvNet().eval()
    x, target = torch.randn(32, 1, 8, 8), torch.arange(32) % 10
    method = ConfiguredMethod(name, options)
    method.bind(net)
    method.tuner.choices[tuple(x.shape)] = 113
    passes: list[int] = []
    handle = net.register_forward_pre_hook(lambda _m, a: passes.append(len(a[0])))
    method.attribute(x, target)
    handle.remove()
    assert passes == expected
