from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from lightning_xai import attribution_guard
from tests.support.helpers import TinyConvNet


def _grad_at_input(net: nn.Module) -> torch.Tensor:
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x)[:, 0].sum(), x)
    return grad


@pytest.mark.parametrize("outer", [torch.no_grad, torch.inference_mode, torch.enable_grad])
def test_autograd_works_under_every_hook_mode(outer) -> None:
    net = TinyConvNet()
    with outer(), attribution_guard(net):
        assert _grad_at_input(net).abs().sum() > 0


def test_everything_is_restored_even_on_error() -> None:
    net = TinyConvNet().train()
    net.conv1.eval()  # a mixed state must come back exactly
    net(torch.rand(4, 1, 8, 8)).sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.fc.weight.requires_grad_(False)
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    hooks_before = len(net.conv2._forward_hooks)
    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    with pytest.raises(RuntimeError, match="boom"), attribution_guard(net):
        assert not net.training and all(p.grad is None for p in net.parameters())
        net.conv2.register_forward_hook(lambda *a: None)
        loss = net(torch.rand(8, 1, 8, 8)).sum()  # eval mode: BatchNorm stats untouched
        loss.backward()  # would accumulate into .grad
        torch.rand(100), random.random(), np.random.rand(10)
        raise RuntimeError("boom")
    assert net.training and not net.conv1.training
    assert all(torch.equal(p.grad, g) for p, g in zip(net.parameters(), grads, strict=True))
    assert not net.fc.weight.requires_grad and net.conv1.weight.requires_grad
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in buffers.items())
    assert len(net.conv2._forward_hooks) == hooks_before
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]


def test_deterministic_mode_is_relaxed_inside_and_restored() -> None:
    torch.use_deterministic_algorithms(True)
    try:
        with attribution_guard(TinyConvNet()):
            assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_grad_off_variant() -> None:
    with attribution_guard(TinyConvNet(), grad=False):
        assert not torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
