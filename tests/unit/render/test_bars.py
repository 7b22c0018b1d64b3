from __future__ import annotations

import pytest
import torch

from lightning_xai.render import bar_chart

GREEN = torch.tensor([0.0, 0.5, 0.0])
RED = torch.tensor([1.0, 0.0, 0.0])  # the ends of the diverging map (Captum's)


def _column(image: torch.Tensor, bar: int, slot: int, margin: int = 4) -> torch.Tensor:
    """The pixels ``[3, H]`` down the middle of bar ``bar``."""
    return image[:, :, margin + bar * slot + (slot - 2) // 2]


def test_signed_bars_grow_from_the_zero_line() -> None:
    chart = bar_chart(torch.tensor([[1.0, -0.5, 0.0]]), height=84, slot=20)
    assert chart.shape == (1, 3, 84, 3 * 20 + 8) and chart.min() >= 0 and chart.max() <= 1
    zero = 4 + (84 - 8) // 2
    up, down, empty = (_column(chart[0], i, 20) for i in range(3))
    green = (up.T == GREEN).all(1).nonzero().squeeze(1)
    assert green.min() == 4 and green.max() <= zero  # full height above the line
    red = (down.T == RED).all(1).nonzero().squeeze(1)
    assert red.min() >= zero and red.max() - zero == pytest.approx((84 - 8) // 4, abs=1)
    assert not (empty.T == GREEN).all(1).any() and not (empty.T == RED).all(1).any()
    assert (chart[0, :, zero, 4:-4] < 0.5).all()  # the axis line


def test_positive_values_use_the_full_height_and_each_row_its_own_scale() -> None:
    chart = bar_chart(torch.tensor([[1.0, 2.0], [10.0, 5.0]]), height=50, slot=10)
    tall = [(_column(chart[k], i, 10).T == GREEN).all(1).sum() for k in (0, 1) for i in (0, 1)]
    assert tall[1] == tall[2] == 42 and tall[0] == tall[3] == 21  # the axis row is grey


def test_labels_are_drawn_under_wide_bars_only() -> None:
    values = torch.tensor([0.3, -0.2, 0.1])
    plain = bar_chart(values, height=60)
    labelled = bar_chart(values, ["mean radius", "texture", "x"], height=60)
    assert labelled.shape[2] > plain.shape[2] == 60
    assert labelled[0, :, 60:].min() < 0.5  # dark text below the plot
    many = bar_chart(torch.randn(200), [f"f{i}" for i in range(200)], height=60)
    assert many.shape[2] == 60  # too narrow for labels: none


def test_bad_values_and_labels() -> None:
    with pytest.raises(ValueError, match=r"\[N, U\]"):
        bar_chart(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="name the 3 bars, got 2"):
        bar_chart(torch.zeros(1, 3), ["a", "b"])
    assert torch.equal(bar_chart(torch.zeros(1, 3))[:, :, :10], torch.ones(1, 3, 10, 3 * 28 + 8))
