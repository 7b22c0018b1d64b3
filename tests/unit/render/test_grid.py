from __future__ import annotations

import pytest
import torch
from torch import Tensor

from lightning_xai.metrics.activations import channel_activity
from lightning_xai.render import (
    feature_map_tiles,
    fit_scale,
    kernel_tiles,
    normalize_tiles,
    select_channels,
    tile_grid,
)
from lightning_xai.render.grid import SEPARATOR
from tests.support.helpers import count_tiles


def test_normalisation_per_tile_and_per_layer() -> None:
    tiles = torch.tensor([[[[1.0, 3.0]]], [[[-2.0, 6.0]]], [[[5.0, 5.0]]]])
    per_tile = normalize_tiles(tiles, "tile")
    assert torch.equal(per_tile[:, 0, 0], torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 0.0]]))
    per_layer = normalize_tiles(tiles, "layer")
    torch.testing.assert_close(per_layer, (tiles + 2) / 8)
    rgb = torch.stack([torch.zeros(2, 2), torch.ones(2, 2), 2 * torch.ones(2, 2)]).unsqueeze(0)
    assert torch.equal(normalize_tiles(rgb)[0, :, 0, 0], torch.tensor([0.0, 0.5, 1.0]))
    broken = torch.tensor([[[[float("nan"), 1.0, float("inf"), -1.0]]]])
    assert torch.equal(normalize_tiles(broken)[0, 0, 0], torch.tensor([0.5, 1.0, 0.5, 0.0]))
    with pytest.raises(ValueError, match=r"`normalize` must be one of \['tile', 'layer'\]"):
        normalize_tiles(tiles, "sample")


def test_grid_places_each_tile_between_thin_separators() -> None:
    tiles = torch.randn(5, 1, 2, 3, generator=torch.Generator().manual_seed(0))
    grid = tile_grid(tiles, ncols=3, scale=(2, 3), gap=1)
    assert grid.shape == (3, 2 * 4 + 1, 3 * 9 + 2)
    expected = normalize_tiles(tiles)
    for t in range(5):
        y, x = (t // 3) * 5, (t % 3) * 10
        block = grid[:, y : y + 4, x : x + 9]
        assert torch.equal(block, block[:1].expand(3, -1, -1)), "grey tiles are R = G = B"
        torch.testing.assert_close(block[0, ::2, ::3], expected[t, 0])
        assert torch.equal(block[0, 1::2, 1::3], block[0, ::2, ::3])  # nearest enlargement
    colour = torch.tensor(SEPARATOR).reshape(3, 1)
    assert torch.equal(grid[:, 4, :], colour.expand(3, grid.shape[2]))  # a separator row
    assert torch.equal(grid[:, 5:, 20:].flatten(1), colour.expand(3, 4 * 9))  # empty cell
    assert count_tiles(grid) == (2, 3, 5)


def test_grid_rgb_colormap_and_bad_tiles() -> None:
    rgb = torch.rand(4, 3, 5, 5)
    grid = tile_grid(rgb, normalize="layer", gap=2)
    assert grid.shape == (3, 12, 12)
    torch.testing.assert_close(grid[:, 7:, 7:], normalize_tiles(rgb, "layer")[3])
    coloured = tile_grid(torch.rand(4, 1, 5, 5), colormap="viridis")
    assert not torch.equal(coloured[0], coloured[2])
    with pytest.raises(ValueError, match="C 1 or 3"):
        tile_grid(torch.rand(4, 2, 5, 5))
    with pytest.raises(ValueError, match="T > 0"):
        tile_grid(torch.rand(0, 1, 5, 5))


def test_kernel_tiles_rgb_slices_and_mean() -> None:
    rgb_weight = torch.randn(6, 3, 5, 5)
    tiles, ncols = kernel_tiles(rgb_weight)
    assert torch.equal(tiles, rgb_weight) and ncols == 3
    grey, _ = kernel_tiles(rgb_weight, rgb=False, max_inputs=2)
    assert grey.shape == (12, 1, 5, 5)

    weight = torch.randn(32, 16, 3, 3)
    tiles, ncols = kernel_tiles(weight, "slices", max_inputs=4)
    assert tiles.shape == (128, 1, 3, 3) and ncols == 4
    for o, i in [(0, 0), (0, 3), (7, 2), (31, 3)]:
        assert torch.equal(tiles[o * 4 + i, 0], weight[o, i])  # row o, column i
    tiles, ncols = kernel_tiles(weight, "mean")
    assert tiles.shape == (32, 1, 3, 3) and ncols == 6
    torch.testing.assert_close(tiles[5, 0], weight[5].mean(0))

    single_input, ncols = kernel_tiles(torch.randn(16, 1, 3, 3))  # seed 000's first conv
    assert single_input.shape == (16, 1, 3, 3) and ncols == 4

    conv1d = torch.randn(6, 8, 3)
    tiles, ncols = kernel_tiles(conv1d, max_inputs=8)
    assert tiles.shape == (48, 1, 1, 3) and ncols == 8
    assert torch.equal(tiles[2 * 8 + 5, 0, 0], conv1d[2, 5])
    tiles, ncols = kernel_tiles(conv1d, "mean")
    assert tiles.shape == (6, 1, 1, 3) and ncols == 1  # strips stacked in one column
    with pytest.raises(ValueError, match="`view` must be one of"):
        kernel_tiles(weight, "first")
    with pytest.raises(ValueError, match="Conv1d"):
        kernel_tiles(torch.randn(3, 3))


def test_feature_map_tiles_and_scale() -> None:
    maps = torch.rand(32, 24, 24)
    tiles, ncols = feature_map_tiles(maps)
    assert tiles.shape == (32, 1, 24, 24) and ncols == 6
    assert count_tiles(tile_grid(tiles, ncols)) == (6, 6, 32)
    strips, ncols = feature_map_tiles(torch.rand(5, 40))
    assert strips.shape == (5, 1, 1, 40) and ncols == 1
    grid = tile_grid(strips, ncols, scale=fit_scale(1, 40, 32))
    assert grid.shape == (3, 5 * 8 + 4, 40 * 4)  # channels x length
    assert count_tiles(grid) == (5, 1, 5)
    with pytest.raises(ValueError, match=r"\[C, H, W\] or \[C, L\]"):
        feature_map_tiles(torch.rand(2, 3, 4, 4))
    assert fit_scale(3, 3, 32) == (11, 11) and fit_scale(7, 7, 32) == (5, 5)
    assert fit_scale(64, 64, 32) == (1, 1) and fit_scale(1, 1, 32) == (32, 32)
    assert fit_scale(1, 1000, 32) == (8, 1)


def test_select_channels_keeps_the_most_active_in_channel_order() -> None:
    scores = torch.tensor([0.5, 3.0, 0.0, 3.0, 1.0])
    assert select_channels(scores, 2).tolist() == [1, 3]
    assert select_channels(scores, 3).tolist() == [1, 3, 4]
    assert select_channels(torch.zeros(4), 2).tolist() == [0, 1]  # ties: lower index
    assert select_channels(scores, None).tolist() == [0, 1, 2, 3, 4]
    assert select_channels(scores, 9).tolist() == [0, 1, 2, 3, 4]


def test_resnet18_layer_with_512_channels_is_capped() -> None:
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18(weights=None).eval()
    outputs: list[Tensor] = []
    handle = net.layer4.register_forward_hook(lambda m, a, out: outputs.append(out))
    try:
        with torch.no_grad():
            net(torch.rand(1, 3, 64, 64))
    finally:
        handle.remove()
    (out,) = outputs
    assert out.shape == (1, 512, 2, 2)
    activity = channel_activity(torch.relu(out))
    channels = select_channels(activity, 64)
    assert channels.shape == (64,) and bool((channels.diff() > 0).all())
    assert activity[channels].min() >= activity.topk(64).values.min()
    tiles, ncols = feature_map_tiles(out[0, channels])
    grid = tile_grid(tiles, ncols, scale=fit_scale(2, 2, 32))
    assert count_tiles(grid) == (8, 8, 64)
    assert grid.shape == (3, 8 * 32 + 7, 8 * 32 + 7)

    weight = net.layer4[1].conv2.weight  # [512, 512, 3, 3]
    tiles, ncols = kernel_tiles(weight[channels], max_inputs=4)
    assert count_tiles(tile_grid(tiles, ncols)) == (64, 4, 256)
