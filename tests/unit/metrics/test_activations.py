from __future__ import annotations

import pytest
import torch

from lightning_xai.metrics.activations import (
    channel_activity,
    dead_channel_fraction,
    mean_activation,
    sparsity,
    weight_norm,
)


def test_health_scalars_on_known_activations() -> None:
    acts = torch.rand(3, 8, 4, 4) + 0.1
    acts[:, [2, 5]] = 0.0  # dead on every sample and position
    acts[1, 6] = 0.0  # zero on one sample only: not dead
    assert dead_channel_fraction(acts).item() == 2 / 8
    assert sparsity(acts).item() == pytest.approx((2 * 3 + 1) / (8 * 3))
    torch.testing.assert_close(mean_activation(acts), acts.mean())
    activity = channel_activity(acts)
    assert activity.shape == (8,) and activity[2] == 0 and activity[5] == 0
    torch.testing.assert_close(activity[0], acts[:, 0].abs().mean())

    conv1d = torch.tensor([[[0.0, 0.0], [1e-4, -1e-4]]])  # [N=1, C=2, L=2]
    assert dead_channel_fraction(conv1d).item() == 0.5
    assert dead_channel_fraction(conv1d, eps=1e-3).item() == 1.0
    assert sparsity(conv1d, eps=1e-3).item() == 1.0


def test_weight_norm_and_bad_inputs() -> None:
    weight = torch.randn(4, 2, 3, 3)
    torch.testing.assert_close(weight_norm(weight), weight.flatten().pow(2).sum().sqrt())
    with pytest.raises(TypeError, match="dead_channel_fraction: `activations` must be a Tensor"):
        dead_channel_fraction([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[N, C, \.\.\.\] tensor, got shape \(5,\)"):
        sparsity(torch.ones(5))
    with pytest.raises(TypeError, match="weight_norm"):
        weight_norm(3.0)  # type: ignore[arg-type]
