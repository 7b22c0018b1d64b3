"""TensorBoard as the user sees it: the real server over HTTP and headless Chromium."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from example_trainers.pictures.tensorboard_view import fetch_json, screenshot, serve
from lightning_xai import AttributionMonitor
from tests.support.helpers import DigitsData, LitClassifier, heat_pixels, make_trainer, read_events

pytestmark = pytest.mark.slow


def test_tensorboard_serves_and_shows_the_attributions(tmp_path: Path) -> None:
    monitor = AttributionMonitor(methods=["IntegratedGradients", "Saliency"], num_probes=4)
    make_trainer(tmp_path, [monitor], max_epochs=2).fit(LitClassifier(), datamodule=DigitsData())
    run_dir = tmp_path / "tb"
    with serve(run_dir, expect_tag="xai/panels/sample_00") as url:
        images = fetch_json(f"{url}/data/plugin/images/tags")["version_0"]
        scalars = fetch_json(f"{url}/data/plugin/scalars/tags")["version_0"]
        assert {f"xai/attributions/saliency/sample_0{k}" for k in range(4)} <= set(images)
        assert {"xai/time/integrated_gradients", "xai/time/saliency"} <= set(scalars)
        # The picture TensorBoard serves is the one in the event file.
        tag = "xai/attributions/integrated_gradients/sample_02"
        entries = fetch_json(f"{url}/data/plugin/images/images?run=version_0&tag={tag}")
        assert [e["step"] for e in entries] == [4, 8]
        with urllib.request.urlopen(
            f"{url}/data/plugin/images/individualImage?{entries[-1]['query']}"
        ) as response:
            served = response.read()
        assert served == read_events(run_dir / "version_0").Images(tag)[-1].encoded_image_string

        if shutil.which("chromium") is None:
            pytest.skip("chromium is not installed (.ci/setup installs it)")
        shown = screenshot(url, tmp_path / "panels.png", tag_filter="panels")
    (tmp_path / "empty").mkdir()
    with serve(tmp_path / "empty") as url:  # the control: the same dashboard with no images
        empty = screenshot(url, tmp_path / "empty.png", tag_filter="panels")
    assert heat_pixels(shown) > 500, "the images dashboard shows no attribution picture"
    assert heat_pixels(empty) < 20, "the colour test sees heat colours on an empty page"
