from __future__ import annotations

import pytest
import torch
from captum.attr import LayerGradCam, NoiseTunnel
from torch import nn

from lightning_xai.methods import GradCamPlusPlus


def _tiny() -> nn.Sequential:
    """x [1, 1, 2, 2] -> A = conv(x) = (x, -x) -> flatten -> 2 scores, known weights."""
    conv = nn.Conv2d(1, 2, 1, bias=False)
    head = nn.Linear(8, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
        head.weight.copy_(
            torch.tensor(
                [
                    [1.0, 0.0, -1.0, 2.0, 0.5, 0.5, 0.0, 1.0],  # class 0: dy/dA, channel by channel
                    [0.1, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0],  # class 1
                ]
            )
        )
    return nn.Sequential(conv, nn.Flatten(), head)


def test_grad_cam_pp_matches_a_hand_computation() -> None:
    # A_0 = x = [1, 2, 3, 4], sum 10; g_0 = [1, 0, -1, 2]
    #   alpha = g^2 / (2 g^2 + sum(A) g^3): 1/12, (g = 0: 0), 1/(2 - 10) = -1/8, 4/(8 + 80) = 1/22
    #   w_0 = sum alpha * relu(g) = 1/12 + 2/22 = 23/132
    # A_1 = -x, sum -10; g_1 = [0.5, 0.5, 0, 1]
    #   alpha = 0.25/(0.5 - 1.25) = -1/3 (twice), 0, 1/(2 - 10) = -1/8
    #   w_1 = 0.5 (-1/3) 2 + 1 (-1/8) = -11/24
    # cam = relu(w_0 x + w_1 (-x)) = x (23/132 + 11/24) = x 167/264
    model = _tiny()
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    cam = GradCamPlusPlus(model, model[0]).attribute(x, target=0)
    assert cam.shape == (1, 1, 2, 2)
    torch.testing.assert_close(cam, x * 167 / 264, rtol=1e-5, atol=1e-5)
    # Class 1: g = 0.1 at the first pixel of each channel, 0 elsewhere.
    #   A_0: alpha = 0.01 / (0.02 + 10 * 0.001) = 1/3, w_0 = 0.1/3 = 1/30
    #   A_1: alpha = 0.01 / (0.02 - 10 * 0.001) = 1,   w_1 = 0.1
    # cam = x/30 - 0.1 x = -x/15 before the ReLU, 0 after it.
    raw = GradCamPlusPlus(model, model[0]).attribute(x, target=1, relu_attributions=False)
    torch.testing.assert_close(raw, -x / 15, rtol=1e-3, atol=1e-6)
    relu = GradCamPlusPlus(model, model[0]).attribute(x, target=torch.tensor([1]))
    assert torch.equal(relu, torch.zeros_like(x))


def test_grad_cam_pp_is_grad_cam_when_gradients_are_uniform() -> None:
    # With one gradient value g per channel over n pixels and sum(A) = S, every alpha equals
    # 1 / (2 + S g), so w = n g / (2 + S g): Grad-CAM's n g (up to the mean's 1/n), rescaled.
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    x = torch.rand(3, 1, 4, 4) + 0.1
    plus = GradCamPlusPlus(model, model[0]).attribute(x, target=0)
    plain = LayerGradCam(model, model[0]).attribute(x, target=0, relu_attributions=True)
    ratio = plus / plain
    assert torch.allclose(ratio, ratio.flatten(1)[:, :1, None, None].expand_as(ratio), rtol=1e-4)


def test_grad_cam_pp_batches_targets_and_runs_in_noise_tunnel() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    x = torch.rand(5, 1, 6, 6)
    target = torch.tensor([0, 1, 2, 3, 0])
    batched = GradCamPlusPlus(net, net[0]).attribute(x, target=target)
    one_by_one = torch.cat(
        [
            GradCamPlusPlus(net, net[0]).attribute(x[i : i + 1], target=int(target[i]))
            for i in range(5)
        ]
    )
    torch.testing.assert_close(batched, one_by_one)
    smooth = NoiseTunnel(GradCamPlusPlus(net, net[0])).attribute(
        x, target=target, nt_samples=4, stdevs=0.1
    )
    assert smooth.shape == (5, 1, 4, 4) and torch.isfinite(smooth).all()


def test_grad_cam_pp_errors_name_the_problem() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match="spatial dimensions"):
        GradCamPlusPlus(net, net[1]).attribute(torch.rand(2, 1, 2, 2), target=0)
    conv = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match="`target` is None"):
        GradCamPlusPlus(conv, conv[0]).attribute(torch.rand(2, 1, 2, 2))
