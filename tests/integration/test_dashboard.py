"""The XAI tab: its data routes over event files from a real fit, and the real TensorBoard
CLI (the entry point) driven in headless Chromium; the report opened from disk."""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from lightning_xai import AttributionMonitor
from lightning_xai.dashboard.plugin import XaiPlugin
from lightning_xai.report import write_report
from lightning_xai.tags import TAGS
from tests.support.helpers import DigitsData, LitClassifier, heat_pixels, make_trainer, read_events

EPOCHS, PROBES, METHODS = 12, 3, ["integrated_gradients", "saliency"]
MAIN, SECOND = "digits/version_0", "digits/version_1"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log root of two runs: 12 epochs of two methods with drift, then 2 epochs of one."""
    root = tmp_path_factory.mktemp("logs")
    for epochs, methods, metrics in [(EPOCHS, METHODS, ["drift"]), (2, ["saliency"], [])]:
        monitor = AttributionMonitor(methods=methods, num_probes=PROBES, metrics=metrics)
        logger = TensorBoardLogger(str(root), name="digits")
        make_trainer(root, [monitor], logger=logger, max_epochs=epochs).fit(
            LitClassifier(), datamodule=DigitsData()
        )
    return root


def _get(plugin: XaiPlugin, route: str, query: Any = None) -> Any:
    response = Client(plugin.get_plugin_apps()[route]).get(route, query_string=query)
    return response if response.status_code != 200 or route == "/index.js" else response.get_json()


def test_the_routes_serve_every_epoch_of_each_run(logs: Path) -> None:
    plugin = XaiPlugin(base_plugin.TBContext(logdir=str(logs)))
    assert plugin.is_active()
    assert _get(plugin, "/runs") == {"runs": [MAIN, SECOND]}
    index = _get(plugin, "/index", {"run": MAIN})
    assert len(index["steps"]) == EPOCHS and index["epochs"] == list(range(EPOCHS))
    grids = {g["name"]: g for g in index["grids"]}
    assert grids["attributions"]["columns"] == METHODS
    assert grids["attributions"]["rows"] == list(range(PROBES)) == grids["panels"]["rows"]
    assert set(index["drift"]) == set(METHODS)
    assert set(index["drift"]["saliency"]) >= {"drift_cosine_first", "drift_spearman_previous"}
    sections = {c["section"] for c in index["charts"]}
    assert {"quality metrics", "time"} <= sections
    second = _get(plugin, "/index", {"run": SECOND})
    assert len(second["steps"]) == 2 and second["grids"][1]["columns"] == ["saliency"]
    # One tag at every step, one step of two tags; the bytes are the event file's.
    tag = TAGS["attribution"](method="saliency", k=1)
    every = _get(plugin, "/images", {"run": MAIN, "tag": tag})[tag]
    assert sorted(map(int, every)) == index["steps"]
    panel = TAGS["panel"](k=2)
    step = index["steps"][4]
    batch = _get(plugin, "/images", [("run", MAIN), ("tag", tag), ("tag", panel), ("step", step)])
    acc = read_events(logs / MAIN)
    for name in (tag, panel):
        (event,) = (e for e in acc.Images(name) if e.step == step)
        assert base64.b64decode(batch[name][str(step)]) == event.encoded_image_string
    assert _get(plugin, "/index", {"run": "nope"}).status_code == 404
    script = _get(plugin, "/index.js")
    assert script.mimetype == "text/javascript" and b"export async function render" in script.data
    assert plugin.frontend_metadata().es_module_path == "/index.js"


# ---- the real TensorBoard and a real browser -------------------------------------------

_CELLS = "#grid td[data-tag] img"
_LOADED = f"return [...document.querySelectorAll('{_CELLS}')].filter(i => i.naturalWidth).length"


def _choose(driver: Any, select: str, value: str) -> None:
    driver.execute_script(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('change'));",
        select,
        value,
    )


def _grid_state(driver: Any) -> tuple[str, list[str]]:
    label = driver.find_element("id", "epoch-label").text
    return label, driver.execute_script(
        f"return [...document.querySelectorAll('{_CELLS}')].map(i => i.src)"
    )


@pytest.mark.slow
def test_tensorboard_shows_the_xai_tab(logs: Path, tmp_path: Path) -> None:
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        pytest.skip("chromium and chromium-driver are not installed (.ci/setup installs them)")
    from selenium.webdriver.common.keys import Keys

    from example_trainers.pictures.dashboard_view import (
        browser,
        click_xai_tab,
        enter_frame,
        wait_for,
    )
    from example_trainers.pictures.tensorboard_view import serve

    with serve(logs, args=["--samples_per_plugin", "images=3"]) as url, browser() as driver:
        click_xai_tab(driver, url)  # the tab is listed, and opens
        # The run selector lists both runs, apart.
        runs = [o.text for o in driver.find_elements("css selector", "#run option")]
        assert runs == [MAIN, SECOND]
        # Every probe x method cell, one epoch position per validation epoch.
        _choose(driver, "#grid-select", "attributions")
        wait_for(lambda: driver.execute_script(_LOADED) == PROBES * len(METHODS), what="the grid")
        assert int(driver.find_element("id", "epoch").get_attribute("max")) + 1 == EPOCHS
        last = _grid_state(driver)
        assert last[0].startswith(f"epoch {EPOCHS - 1} ·")
        redraws = driver.execute_script("return +document.body.dataset.redraws")
        driver.find_element("id", "epoch-prev").click()
        wait_for(lambda: driver.execute_script("return +document.body.dataset.redraws") > redraws)
        before = _grid_state(driver)
        assert before[0].startswith(f"epoch {EPOCHS - 2} ·")
        assert all(a != b for a, b in zip(before[1], last[1], strict=True))
        redraws = driver.execute_script("return +document.body.dataset.redraws")
        driver.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT)
        wait_for(lambda: driver.execute_script("return +document.body.dataset.redraws") > redraws)
        assert _grid_state(driver) == last
        driver.find_element("id", "reload").click()  # reads new epochs, keeps the grid chosen
        wait_for(lambda: driver.execute_script(_LOADED) == PROBES * len(METHODS), what="reload")
        # The screenshot shows the pictures (and the check fails without them).
        driver.switch_to.default_content()
        shown = tmp_path / "grid.png"
        driver.save_screenshot(str(shown))
        enter_frame(driver)
        driver.execute_script(
            "document.querySelectorAll('#grid img').forEach(i => (i.style.visibility = 'hidden'))"
        )
        driver.switch_to.default_content()
        empty = tmp_path / "empty.png"
        driver.save_screenshot(str(empty))
        assert heat_pixels(shown) > 500 and heat_pixels(empty) < 20
        # Compare: epoch A beside epoch B for every method; filmstrip: every epoch.
        enter_frame(driver)
        driver.find_element("css selector", "[data-view=compare]").click()
        wait_for(lambda: driver.execute_script("return document.body.dataset.compared"))
        rows = driver.find_elements("css selector", "#compare tbody tr")
        assert [r.find_element("css selector", "th").text for r in rows] == METHODS
        for row in rows:
            assert len(row.find_elements("css selector", "img")) == 2
            assert row.find_elements("css selector", "td.diff canvas")
        assert "cosine_first" in rows[1].find_element("css selector", "td.drift").text
        driver.find_element("css selector", "[data-view=filmstrip]").click()
        wait_for(lambda: driver.execute_script("return document.body.dataset.filmed"))
        frames = driver.find_elements("css selector", "#filmstrip figure img")
        assert len(frames) == EPOCHS
        # The second run is its own: two epochs, one method.
        _choose(driver, "#run", SECOND)
        driver.find_element("css selector", "[data-view=grid]").click()
        time.sleep(0.2)
        wait_for(lambda: driver.find_element("id", "epoch").get_attribute("max") == "1")


@pytest.mark.slow
def test_the_report_opens_from_disk_and_shows_the_grid(logs: Path, tmp_path: Path) -> None:
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        pytest.skip("chromium and chromium-driver are not installed (.ci/setup installs them)")
    from example_trainers.pictures.dashboard_view import browser, wait_for

    pages = write_report(logs, tmp_path)
    assert [p.name for p in pages] == ["digits_version_0.html", "digits_version_1.html"]
    with browser() as driver:
        driver.get(pages[0].as_uri())
        wait_for(lambda: driver.execute_script("return document.body.dataset.ready"))
        assert [o.text for o in driver.find_elements("css selector", "#run option")] == [MAIN]
        _choose(driver, "#grid-select", "attributions")
        wait_for(lambda: driver.execute_script(_LOADED) == PROBES * len(METHODS), what="the grid")
        assert int(driver.find_element("id", "epoch").get_attribute("max")) + 1 == EPOCHS
