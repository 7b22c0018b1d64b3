"""One autograd root per pass gives Captum's gradients to the bit."""

from __future__ import annotations

import pytest
import torch
from captum._utils.gradient import compute_gradients
from captum.attr import InputXGradient, IntegratedGradients, Saliency

from lightning_xai.methods.gradients import summed_gradients, use_summed_gradients
from tests.support.helpers import TinyConvNet


@pytest.mark.parametrize("algorithm", [IntegratedGradients, Saliency, InputXGradient])
def test_summed_gradients_equal_captums_on_a_conv_net(algorithm: type) -> None:
    torch.manual_seed(0)
    net = TinyConvNet().eval()
    x = torch.randn(6, 1, 8, 8)
    target = torch.tensor([0, 1, 2, 3, 4, 5])
    theirs = algorithm(net)
    ours = algorithm(net)
    use_summed_gradients(ours)
    assert ours.gradient_func is summed_gradients and theirs.gradient_func is compute_gradients
    assert torch.equal(ours.attribute(x, target=target), theirs.attribute(x, target=target))


def test_other_gradient_functions_are_left_alone() -> None:
    saliency = Saliency(TinyConvNet())
    saliency.gradient_func = custom = lambda *args, **kwargs: compute_gradients(*args, **kwargs)
    use_summed_gradients(saliency)
    assert saliency.gradient_func is custom
