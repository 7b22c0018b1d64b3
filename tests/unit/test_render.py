from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr._utils.visualization import _normalize_attr

from lightning_xai.render import (
    apply_colormap,
    colormap,
    enlarge,
    normalize_attribution,
    render_attribution,
    titled_row,
    to_display,
)


@pytest.mark.parametrize("sign", ["all", "positive", "negative", "absolute_value"])
@pytest.mark.parametrize("outlier_perc", [0.0, 2.0, 10.0])
def test_normalisation_matches_captums_visualiser(sign: str, outlier_perc: float) -> None:
    attr = torch.randn(3, 3, 10, 12, generator=torch.Generator().manual_seed(1))
    ours = normalize_attribution(attr, sign, outlier_perc)
    for k in range(3):
        summed = attr[k].sum(0).numpy().astype(np.float64)  # Captum reduces channels first
        theirs = _normalize_attr(summed, sign, outlier_perc)
        np.testing.assert_allclose(ours[k, 0].numpy(), theirs, atol=1e-5)


def test_zero_attribution_gives_zero_map_not_nan() -> None:
    out = normalize_attribution(torch.zeros(2, 1, 4, 4))
    assert torch.equal(out, torch.zeros(2, 1, 4, 4))


def test_colormap_lookup() -> None:
    lut = colormap("diverging")
    assert lut.shape == (256, 3)
    assert torch.allclose(lut[0], torch.tensor([1.0, 0.0, 0.0]))  # Captum's red and green
    assert torch.allclose(lut[-1], torch.tensor([0.0, 0.5, 0.0]), atol=2e-3)
    rgb = apply_colormap(torch.tensor([[[[0.0, 1.0]]]]), "gray")
    assert rgb.shape == (1, 3, 1, 2) and rgb[0, :, 0, 0].sum() == 0 and rgb[0, :, 0, 1].sum() == 3
    with pytest.raises(ValueError, match="Known"):
        colormap("nope")


def test_views_and_sign_auto() -> None:
    images = torch.rand(2, 3, 6, 6)
    positive = torch.rand(2, 1, 6, 6)
    heat = render_attribution(positive, images, view="heat_map")
    assert heat.shape == (2, 3, 6, 6) and heat.min() >= 0 and heat.max() <= 1
    # Non-negative maps use the sequential blue map: the strongest pixel is dark blue.
    k = positive[0, 0].argmax()
    assert heat[0, 2].flatten()[k] > heat[0, 0].flatten()[k]
    masked = render_attribution(torch.ones(2, 1, 6, 6), images, view="masked_image")
    assert torch.allclose(masked, images)
    with pytest.raises(ValueError, match="view"):
        render_attribution(positive, images, view="bad")


def test_display_denormalises_and_enlarges() -> None:
    x = torch.full((1, 1, 4, 4), -1.0)
    assert torch.allclose(to_display(x, ([0.5], [0.5])), torch.zeros(1, 3, 4, 4))
    ramp = torch.arange(16.0).reshape(1, 1, 4, 4)
    shown = to_display(ramp)
    assert shown.min() == 0 and shown.max() == 1 and shown.shape == (1, 3, 4, 4)
    big = enlarge(shown, 10)
    assert big.shape == (1, 3, 12, 12) and torch.equal(big[..., ::3, ::3], shown)
    assert enlarge(shown, 2) is shown


def test_panel_layout() -> None:
    tiles = [torch.zeros(3, 20, 20), torch.ones(3, 20, 30)]
    panel = titled_row(tiles, ["a", "b"], "title")
    assert panel.shape == (3, 20 + 28, 20 + 2 + 30)
    assert panel[:, :14].min() < 0.5  # the title text is drawn


def test_encode_png_round_trips_through_pil() -> None:
    import io

    import numpy as np
    from PIL import Image

    from lightning_xai.render import encode_png, enlarge, to_uint8

    torch.manual_seed(0)
    picture = enlarge(torch.rand(1, 3, 7, 9), 28)[0]
    decoded = np.array(Image.open(io.BytesIO(encode_png(picture))).convert("RGB"))
    assert (torch.from_numpy(decoded).permute(2, 0, 1) == to_uint8(picture)).all()
    grey = torch.randint(0, 256, (1, 5, 6), dtype=torch.uint8)
    assert (np.array(Image.open(io.BytesIO(encode_png(grey)))) == grey[0].numpy()).all()
    with pytest.raises(ValueError, match=r"encode_png: `image` must be \[3, H, W\]"):
        encode_png(torch.rand(2, 4, 4))


def test_titled_rows_equals_titled_row_per_sample() -> None:
    from lightning_xai.render import titled_row, titled_rows, to_uint8

    torch.manual_seed(0)
    tiles = [torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 20)]
    titles = ["#0 label 1", "#1", "#2 pred 3"]
    batched = titled_rows([to_uint8(t) for t in tiles], ["input", "ig"], titles)
    for k in range(3):
        single = to_uint8(titled_row([t[k] for t in tiles], ["input", "ig"], titles[k]))
        assert torch.equal(batched[k], single)
    floats = titled_rows(tiles, ["input", "ig"], titles)
    assert floats.dtype == torch.float32 and torch.equal(to_uint8(floats), batched)


@pytest.mark.parametrize("name", ["diverging", "greens", "reds", "blues", "gray", "viridis"])
def test_colormaps_equal_matplotlib_and_captum(name: str) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    from matplotlib.colors import LinearSegmentedColormap

    theirs = (
        LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"])  # Captum's
        if name == "diverging"
        else matplotlib.colormaps[{"gray": "gray", "viridis": "viridis"}.get(name, name.title())]
    )
    values = torch.cat(
        [torch.linspace(0, 1, 1001), torch.rand(5000, generator=torch.Generator().manual_seed(0))]
    )
    ours = apply_colormap(values.reshape(1, 1, 1, -1), name)[0, :, 0].T  # [V, 3]
    expected = torch.from_numpy(theirs(values.double().numpy())[:, :3]).float()
    assert (ours - expected).abs().max() < 1e-4
