from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, NoiseTunnel
from torch import nn

from lightning_xai.methods import BaselineStrategy, ConfiguredMethod, gaussian_blur

X = torch.rand(4, 2, 6, 6, generator=torch.Generator().manual_seed(0)) * 3 - 1


def test_single_baselines() -> None:
    assert torch.equal(BaselineStrategy()(X), torch.zeros(1, 2, 6, 6))
    assert torch.equal(BaselineStrategy(0.5)(X), torch.full((1, 2, 6, 6), 0.5))
    spec = {"kind": "constant", "value": -1}
    assert torch.equal(BaselineStrategy(spec)(X), torch.full((1, 2, 6, 6), -1.0))
    torch.testing.assert_close(BaselineStrategy("mean")(X), X.mean(0, keepdim=True))
    own = torch.rand(2, 6, 6)
    assert torch.equal(BaselineStrategy(own)(X), own[None])  # one input-shaped tensor
    assert torch.equal(BaselineStrategy(lambda x: x * 0 + 2)(X), torch.full_like(X, 2))
    assert torch.equal(BaselineStrategy(lambda x: 1.5)(X), torch.full((1, 2, 6, 6), 1.5))


def test_uniform_noise_is_seeded_in_the_probe_range_and_leaves_the_global_rng() -> None:
    torch.manual_seed(3)
    state = torch.get_rng_state()
    noise = BaselineStrategy("uniform")(X)
    assert torch.equal(torch.get_rng_state(), state)  # a generator of its own
    assert noise.shape == X.shape and X.min() <= noise.min() and noise.max() <= X.max()
    assert torch.equal(noise, BaselineStrategy("uniform")(X))  # the same at every run
    other = BaselineStrategy({"kind": "uniform", "seed": 1, "low": 0, "high": 1})(X)
    assert other.min() >= 0 and other.max() <= 1 and not torch.equal(noise, other)


def test_distributions_for_the_shap_family() -> None:
    shap = BaselineStrategy({"kind": "uniform", "samples": 8}, distribution=True, min_count=2)
    assert shap(X).shape == (8, 2, 6, 6)
    probe = BaselineStrategy(None, distribution=True, min_count=2)  # DeepLiftShap's default
    assert torch.equal(probe(X), X)
    assert BaselineStrategy({"kind": "probe", "samples": 2}, distribution=True)(X).shape[0] == 2
    assert BaselineStrategy(None, distribution=True)(X).shape[0] == 1  # GradientShap: zeros
    with pytest.raises(ValueError, match="at least 2 baselines, `baselines` 'mean' gives 1"):
        BaselineStrategy("mean", distribution=True, min_count=2)
    lonely = BaselineStrategy(torch.zeros(1, 2, 6, 6), distribution=True, min_count=2)
    with pytest.raises(ValueError, match="gives 1"):
        lonely.check(X)
    with pytest.raises(ValueError, match="'samples' draws a distribution"):
        BaselineStrategy({"kind": "uniform", "samples": 8})


def test_check_rejects_shapes_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match=r"shaped like the inputs \(4, 2, 6, 6\)"):
        BaselineStrategy(torch.zeros(1, 3, 6, 6)).check(X)
    with pytest.raises(ValueError, match="one baseline for all inputs or one per input"):
        BaselineStrategy(torch.zeros(3, 2, 6, 6)).check(X)
    with pytest.raises(TypeError, match="callable must return a tensor"):
        BaselineStrategy(lambda x: "zeros")(X)
    with pytest.raises(ValueError, match=r"unknown options \['sigma'\]"):
        BaselineStrategy({"kind": "uniform", "sigma": 2})
    with pytest.raises(TypeError, match="must not be a bool"):
        BaselineStrategy(True)


def test_gaussian_blur() -> None:
    blurred = gaussian_blur(X, 1.0)
    assert blurred.shape == X.shape
    torch.testing.assert_close(blurred.mean(), X.mean(), atol=0.05, rtol=0)  # ~mass kept
    assert blurred.std() < X.std()  # smoother
    # Interior pixels equal a direct 2-D convolution with the outer product of the kernel.
    offsets = torch.arange(-3, 4, dtype=torch.float32)
    k = torch.exp(-0.5 * offsets**2)
    k = k / k.sum()
    big = torch.rand(1, 1, 16, 16)
    direct = F.conv2d(big, (k[:, None] * k[None, :])[None, None])
    torch.testing.assert_close(gaussian_blur(big, 1.0)[..., 3:-3, 3:-3], direct)
    assert gaussian_blur(torch.rand(2, 3, 10), 2.0).shape == (2, 3, 10)  # 1-D signals
    with pytest.raises(ValueError, match="spatial"):
        gaussian_blur(torch.rand(2, 10))


def test_configured_baselines_reach_captum_also_inside_noise_tunnel() -> None:
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 5)).eval()
    target = torch.tensor([0, 1, 2, 3])
    method = ConfiguredMethod("IntegratedGradients", {"baselines": "blur", "n_steps": 5})
    method.bind(net)
    expected = IntegratedGradients(net).attribute(X, gaussian_blur(X), target, n_steps=5)
    torch.testing.assert_close(method.attribute(X, target), expected)
    smooth = ConfiguredMethod(
        "NoiseTunnel(IntegratedGradients)",
        {"baselines": "uniform", "n_steps": 5, "noise_tunnel": {"nt_samples": 4}},
    )
    smooth.bind(net)
    torch.manual_seed(0)
    got = smooth.attribute(X, target)
    torch.manual_seed(0)
    expected = NoiseTunnel(IntegratedGradients(net)).attribute(
        X, baselines=BaselineStrategy("uniform")(X), target=target, n_steps=5, nt_samples=4,
        stdevs=0.2, nt_samples_batch_size=4, internal_batch_size=128,
    )  # fmt: skip
    torch.testing.assert_close(got, expected)
