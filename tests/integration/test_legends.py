"""A scale you can read: colour bars with their range, held scales, the "~0" mark, the epoch
in titles, titles legible at TensorBoard's card size, one merged Custom Scalars layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_xai import AttentionMonitor, AttributionMonitor, FeatureMapMonitor
from lightning_xai.figures.scales import HeldScales
from lightning_xai.figures.titles import probe_titles
from lightning_xai.render import colormap, to_uint8
from lightning_xai.render.colorbar import colorbar, format_value, negligible
from lightning_xai.render.heatmap import attribution_scale
from lightning_xai.render.panel import CARD_WIDTH, text_line, title_size, titled_row
from tests.support.helpers import DigitsData, LitClassifier, decode_image, make_trainer, read_events

BAR = 21  # rows of a colour bar at font size 10: a white row, the band (6), the values (14)


def _lut_ends(name: str) -> tuple[Tensor, Tensor]:
    lut = to_uint8(colormap(name))
    return lut[0], lut[-1]


def _labels(low: float, high: float, width: int, size: int = 10) -> Tensor:
    """The pixels the bar's values should have: ``[size + 4, width]`` uint8."""
    half = width // 2
    left = text_line(format_value(low), half, size, "left", "+8.8e-88")
    right = text_line(format_value(high), width - half, size, "right", "+8.8e-88")
    return torch.cat([torch.from_numpy(left.copy()), torch.from_numpy(right.copy())], dim=1)


def test_colorbar_shows_the_colormap_and_prints_its_range() -> None:
    bar = to_uint8(colorbar("diverging", -0.032, 0.032, 112))
    assert bar.shape == (3, BAR, 112)
    first, last = _lut_ends("diverging")
    assert torch.equal(bar[:, 3, 0], first) and torch.equal(bar[:, 3, -1], last)
    assert torch.equal(bar[0, 7:], _labels(-0.032, 0.032, 112))
    assert (bar[0, 7:, :40] < 128).any() and (bar[0, 7:, -40:] < 128).any()  # text at both ends
    assert [format_value(v) for v in (-3.2e-2, 3.2e-2, 3.24e-5, 3.26e-5, 0.0, 250.0)] == [
        "-0.032", "+0.032", "+3.2e-05", "+3.3e-05", "0", "+2.5e+02",
    ]  # fmt: skip
    outputs = torch.tensor([[5.0, -1.0], [5.0, 0.0], [0.0, 0.0]])
    maps = torch.tensor([[1e-12, 0.0], [1e-3, 0.0], [0.0, 0.0]])
    assert negligible(maps, outputs).tolist() == [True, False, True]


def test_titles_carry_the_epoch_and_grow_with_wide_panels() -> None:
    titles = probe_titles(torch.tensor([[0.0, 3.0]]), None, torch.tensor([1]), epoch=7)
    assert titles == ["epoch 7 · #0 | label 1 | pred 1 (0.95)"]
    assert title_size(CARD_WIDTH) == 10 and title_size(4 * CARD_WIDTH) == 40
    tiles = [torch.ones(3, 20, 300), torch.ones(3, 20, 300)]
    wide = titled_row(tiles, ["a", "b"], titles[0])
    size = title_size(602)
    assert wide.shape[1] == 20 + 2 * (size + 4)
    # Shrunk to the card's width, the title's letters are still about 10 pixels high.
    rows = (wide[0, : size + 4] < 0.5).any(dim=1).nonzero()
    assert (rows.max() - rows.min() + 1) * CARD_WIDTH / wide.shape[2] >= 7


def test_held_scales_keep_the_first_or_largest_scale_and_survive_a_checkpoint(
    tmp_path: Path,
) -> None:
    fixed, largest = HeldScales("fixed"), HeldScales("max")
    for held in (fixed, largest):
        held.hold({"ig": torch.tensor([0.0, 2.0])})
    assert fixed.hold({"ig": torch.tensor([1.0, 4.0])})["ig"].tolist() == [1.0, 2.0]
    assert largest.hold({"ig": torch.tensor([1.0, 4.0])})["ig"].tolist() == [1.0, 4.0]
    assert largest.hold({"ig": torch.tensor([0.5])})["ig"].tolist() == [1.0]  # fewer probes
    monitor = AttributionMonitor(methods=["Saliency"], scale="max")
    monitor.scales = largest
    torch.save(monitor.state_dict(), tmp_path / "state.pt")
    restored = AttributionMonitor(methods=["Saliency"], scale="max")
    restored.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert restored.scales.hold({"ig": torch.tensor([0.0, 0.0])})["ig"].tolist() == [1.0, 4.0]
    with pytest.raises(ValueError, match=r"AttributionMonitor: `scale` must be one of"):
        AttributionMonitor(scale="epoch")


@pytest.mark.slow
def test_every_picture_has_a_colour_bar_with_its_range_and_the_epoch_in_its_title(
    tmp_path: Path, data: DigitsData
) -> None:
    monitor = AttributionMonitor(methods=["Saliency"], num_probes=2, view="heat_map")
    model = LitClassifier()
    make_trainer(tmp_path, [monitor]).fit(model, datamodule=data)
    events = read_events(tmp_path / "tb" / "version_0")
    picture = decode_image(events.Images("xai/attributions/saliency/sample_00")[-1])
    size = title_size(2 * 112 + 2)  # the panel's: input and one method
    bar = picture[-(size + 11) :].permute(2, 0, 1)  # [3, rows, W]
    first, last = _lut_ends("blues")  # Saliency is |gradient|: one-signed, blues
    assert torch.equal(bar[:, 3, 0], first) and torch.equal(bar[:, 3, -1], last)
    scale = attribution_scale(monitor.latest["Saliency"][:1], "absolute_value", 2.0)
    assert torch.equal(bar[0, 7:], _labels(0.0, float(scale), 112, size))
    # The panel: the epoch in the title strip, the same bar under the method's tile.
    panel = decode_image(events.Images("xai/panels/sample_00")[-1])
    model.eval()
    with torch.no_grad():
        outputs = model(monitor.probe.inputs[:1])
    title = probe_titles(outputs, None, monitor.probe.labels[:1], epoch=1)[0]
    assert title.startswith("epoch 1 · #0 | label ")
    strip = torch.from_numpy(text_line(title, panel.shape[1], size).copy())
    assert torch.equal(panel[: size + 4, :, 0], strip)
    assert torch.equal(panel[-(size + 11) :, -112:], picture[-(size + 11) :])


class _Constant(nn.Module):
    """Outputs that do not depend on the input: a learned bias (the input times zero)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.linspace(-1.0, 1.0, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.bias + 0.0 * x.flatten(1).sum(dim=1, keepdim=True)


@pytest.mark.slow
def test_maps_of_a_model_blind_to_its_input_are_flat_and_marked(
    tmp_path: Path, data: DigitsData
) -> None:
    monitor = AttributionMonitor(
        methods=["IntegratedGradients"], num_probes=2, view="heat_map", image_size=64
    )
    make_trainer(tmp_path, [monitor], max_epochs=1).fit(LitClassifier(_Constant()), data)
    events = read_events(tmp_path / "tb" / "version_0")
    picture = decode_image(events.Images("xai/attributions/integrated_gradients/sample_01")[-1])
    size = title_size(2 * 64 + 2)
    heat, bar = picture[: -(size + 11)], picture[-(size + 11) :]
    assert heat.shape[0] == 64 and len(heat.reshape(-1, 3).unique(dim=0)) == 1  # flat
    assert len(bar[3].unique(dim=0)) == 1 and not torch.equal(bar[3, 0], _lut_ends("diverging")[0])
    text = text_line("~0 (max 0.0e+00)", 64, size, "center")
    assert torch.equal(bar[7:, :, 0], torch.from_numpy(text.copy()))


class _Doubling(LitClassifier):
    """A frozen linear model whose output is doubled each epoch: attributions double."""

    def __init__(self) -> None:
        super().__init__(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
        self.register_buffer("gain", torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        return self.gain * self.net(x)

    def on_train_epoch_start(self) -> None:
        self.gain.mul_(2.0)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.slow
def test_a_fixed_scale_shows_growth_that_the_sample_scale_hides(
    tmp_path: Path, data: DigitsData
) -> None:
    fixed = AttributionMonitor(["Saliency"], num_probes=2, view="heat_map", scale="fixed")
    own = AttributionMonitor({"own": {"method": "Saliency"}}, num_probes=2, view="heat_map")
    make_trainer(tmp_path, [fixed, own], max_epochs=2).fit(_Doubling(), datamodule=data)
    events = read_events(tmp_path / "tb" / "version_0")
    maps = {}
    for tag in ("saliency", "own"):
        images = events.Images(f"xai/attributions/{tag}/sample_00")
        assert [e.step for e in images] == [4, 8]
        maps[tag] = [decode_image(e)[:-BAR].float() for e in images]
    (fixed_0, fixed_1), (own_0, own_1) = maps["saliency"], maps["own"]
    assert torch.equal(own_0, own_1)  # per-sample scaling: doubling is invisible
    assert (fixed_1 - fixed_0).abs().mean() > 5  # held scale: the map is darker
    assert fixed_1.mean() < fixed_0.mean()
    assert fixed.scales.state_dict()["saliency"].shape == (2,)  # checkpointed


class _ConvAttention(LitClassifier):
    """A convolution, then self-attention over its 36 positions: every monitor applies."""

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(1, 8, 3))
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 10)

    def forward(self, x: Tensor) -> Tensor:
        tokens = F.relu(self.net(x)).flatten(2).transpose(1, 2)  # [N, 36, 8]
        out, _ = self.attn(tokens, tokens, tokens)
        return self.head(out.mean(dim=1))


@pytest.mark.slow
def test_one_custom_scalars_layout_holds_every_monitors_charts(
    tmp_path: Path, data: DigitsData
) -> None:
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    monitors = [
        AttributionMonitor(methods=["Saliency"], num_probes=2),
        FeatureMapMonitor(num_probes=2),
        AttentionMonitor(num_probes=2, samples=(0,)),
    ]
    make_trainer(tmp_path, monitors, max_epochs=1).fit(_ConvAttention(), datamodule=data)
    events = read_events(tmp_path / "tb" / "version_0")
    config = events.Tensors(metadata.CONFIG_SUMMARY_TAG)[-1]
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    charts = {c.title: list(c.multiline.tag) for cat in layout.category for c in cat.chart}
    expected = {}
    for monitor in monitors:
        expected.update({t: [r] for t, r in monitor._chart_layout().items()})
    assert len(expected) == 6 and charts == expected


def test_token_strips_get_a_bar_and_the_mark(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from lightning_xai.figures.tokens import log_token_attributions
    from lightning_xai.sinks import FileSink
    from lightning_xai.token_text import TokenText

    ids = torch.tensor([[1, 2, 3, 0], [1, 3, 0, 0]])
    attributions = torch.tensor([[0.1, -0.4, 0.2, 0.0], [1e-14, 0.0, 0.0, 0.0]])
    outputs = torch.tensor([[2.0, -1.0], [3.0, 1.0]])
    sink = FileSink(tmp_path)
    log_token_attributions(
        sink, 1, ids, {"ig": attributions}, {"ig": "ig"}, ["#0", "#1"], TokenText(pad_id=0),
        None, outputs,
    )
    sink.flush()
    pictures = [
        np.asarray(Image.open(next(tmp_path.rglob(f"sample_0{k}/*.png"))).convert("RGB"))
        for k in range(2)
    ]
    signed, marked = (torch.from_numpy(p[-BAR:].copy()).permute(2, 0, 1) for p in pictures)
    width = signed.shape[2]
    assert torch.equal(signed, to_uint8(colorbar("diverging", -0.4, 0.4, width)))
    text = text_line("~0 (max 1.0e-14)", marked.shape[2], 10, "center")
    assert torch.equal(marked[0, 7:], torch.from_numpy(text.copy()))
