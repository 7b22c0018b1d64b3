"""The lean LayerConductance equals Captum's on every option, with fewer passes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from captum import attr as A
from torch import Tensor, nn

from lightning_xai import get_method
from lightning_xai.methods.conductance import LayerConductance


class TwoInputNet(nn.Module):
    """``(image [N, 1, 8, 8], side [N, 3], scale [N, 1]) -> [N, 4]``; in-place ReLU after
    ``conv`` (the layer output must be copied) and a reused-free layout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU(inplace=True)
        self.side = nn.Linear(3, 4)
        self.head = nn.Linear(4 * 36 + 4, 4)

    def forward(self, image: Tensor, side: Tensor, scale: Tensor) -> Tensor:
        x = self.relu(self.conv(image)).flatten(1)
        return self.head(torch.cat([x, self.side(side)], 1)) * scale


def _case() -> tuple[TwoInputNet, tuple[Tensor, Tensor], Tensor, Tensor]:
    torch.manual_seed(0)
    net = TwoInputNet().eval()
    inputs = (torch.randn(5, 1, 8, 8), torch.randn(5, 3))
    scale = torch.rand(5, 1) + 0.5
    return net, inputs, scale, torch.tensor([0, 1, 2, 3, 1])


OPTIONS: list[dict[str, Any]] = [
    {},
    {"internal_batch_size": 10},  # 2 points per pass
    {"internal_batch_size": 5, "n_steps": 7},  # 1 point per pass (Captum would need 2)
    {"internal_batch_size": 15, "method": "riemann_trapezoid"},
    {"baselines": (0.5, torch.randn(1, 3)), "internal_batch_size": 20},
    {"return_convergence_delta": True, "internal_batch_size": 10},
    {"attribute_to_layer_input": True, "internal_batch_size": 10},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("layer", ["conv", "relu", "side"])
def test_equals_captum(options: dict[str, Any], layer: str) -> None:
    net, inputs, scale, target = _case()
    module = net.get_submodule(layer)
    kwargs = {"target": target, "additional_forward_args": (scale,), **options}
    reference_kwargs = {k: v for k, v in kwargs.items() if k != "internal_batch_size"}
    expected = A.LayerConductance(net, module).attribute(inputs, **reference_kwargs)
    calls = []
    handle = net.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    got = LayerConductance(net, module).attribute(inputs, **kwargs)
    handle.remove()
    if options.get("return_convergence_delta"):
        (got, delta), (expected, expected_delta) = got, expected
        torch.testing.assert_close(delta, expected_delta, atol=1e-5, rtol=1e-4)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    points = options.get("n_steps", 50) + 1
    rows = points * 5 + (10 if options.get("return_convergence_delta") else 0)
    assert sum(calls) <= rows + (rows if layer == "conv" else 0)  # conv: one re-run, copied


def test_in_place_after_layer_is_copied_once() -> None:
    """``conv`` is followed by ReLU(inplace=True): the first pass finds its output changed,
    re-runs with a copy, and copies from then on."""
    net, inputs, scale, target = _case()
    method = LayerConductance(net, net.conv)
    method.attribute(inputs, target=target, additional_forward_args=(scale,), n_steps=4)
    assert method._clone_layer
    again = LayerConductance(net, net.side)
    again.attribute(inputs, target=target, additional_forward_args=(scale,), n_steps=4)
    assert not again._clone_layer


def test_registered_and_missing_target_fails_like_captum() -> None:
    assert get_method("LayerConductance").builder is LayerConductance
    net, inputs, scale, _ = _case()
    with pytest.raises(AssertionError, match="Target not provided"):
        LayerConductance(net, net.side).attribute(inputs, additional_forward_args=(scale,))


def test_noise_tunnel_wraps_the_lean_conductance_like_captums() -> None:
    """NoiseTunnel calls ``attribute.__wrapped__`` (Captum's ``log_usage``)."""
    net, inputs, scale, target = _case()
    results = []
    for algorithm in (A.LayerConductance, LayerConductance):
        torch.manual_seed(3)
        tunnel = A.NoiseTunnel(algorithm(net, net.side))
        kwargs = {"target": target, "additional_forward_args": (scale,), "n_steps": 8}
        results.append(tunnel.attribute(inputs, nt_samples=3, stdevs=0.1, **kwargs))
    torch.testing.assert_close(results[1], results[0], atol=1e-5, rtol=1e-4)
