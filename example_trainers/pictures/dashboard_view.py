"""The XAI tab as a user sees it: headless Chromium driven by selenium.

    python -m example_trainers.pictures.dashboard_view LOGDIR OUT_DIR [VIEW ...]

Used for the README's screenshot, by the browser tests and by bench/bench_dashboard.py.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from example_trainers.pictures.tensorboard_view import serve

__all__ = ["browser", "click_xai_tab", "enter_frame", "open_xai_tab", "screenshots", "wait_for"]

# Finds the plugin's iframe through TensorBoard's shadow roots.
_FIND_IFRAME = """
const seen = [document];
while (seen.length) {
  const root = seen.pop();
  const frame = root.querySelector('iframe');
  if (frame) return frame;
  root.querySelectorAll('*').forEach((e) => e.shadowRoot && seen.push(e.shadowRoot));
}
return null;
"""

# TensorBoard's tab labelled "XAI" (a leaf element of its tab bar), or null.
_FIND_TAB = """
const seen = [document];
while (seen.length) {
  const root = seen.pop();
  for (const e of root.querySelectorAll('*')) {
    if (e.shadowRoot) seen.push(e.shadowRoot);
    if (e.children.length === 0 && e.textContent.trim() === 'XAI') return e;
  }
}
return null;
"""


@contextmanager
def browser(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A headless Chromium (Debian's ``chromium`` and ``chromium-driver``) under selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_binary = shutil.which("chromedriver")
    if chromium is None or driver_binary is None:
        raise FileNotFoundError("apt-get install chromium chromium-driver (see .ci/setup)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_binary), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    """Polls ``condition`` until it returns a truthy value; ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # the page may be between two states
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what or condition}")
        time.sleep(0.05)


def open_xai_tab(driver: Any, url: str, timeout: float = 60) -> None:
    """Opens TensorBoard at ``url`` on the XAI tab, switches into the plugin's frame and waits
    for the first grid to be drawn."""
    driver.get(f"{url}/#xai")
    enter_frame(driver, timeout)
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), timeout,
             "the first grid")  # fmt: skip


def click_xai_tab(driver: Any, url: str, timeout: float = 60) -> float:
    """Opens TensorBoard at ``url`` (its default tab), waits for the XAI tab to be listed,
    clicks it and waits for the first grid; returns the seconds from the click to the grid."""
    driver.get(url)
    tab = wait_for(lambda: driver.execute_script(_FIND_TAB), timeout, "the XAI tab")
    start = time.perf_counter()
    tab.click()
    enter_frame(driver, timeout)
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), timeout,
             "the first grid")  # fmt: skip
    return time.perf_counter() - start


def enter_frame(driver: Any, timeout: float = 60) -> None:
    """Switches from TensorBoard's page into the XAI tab's frame."""
    driver.switch_to.default_content()
    frame = wait_for(lambda: driver.execute_script(_FIND_IFRAME), timeout, "the XAI iframe")
    driver.switch_to.frame(frame)


def screenshots(
    log_dir: str | Path, out_dir: str | Path, views: Sequence[str] = ("grid",), width: int = 1400
) -> list[Path]:
    """Serves ``log_dir``, opens the XAI tab and saves ``<out_dir>/dashboard_<view>.png`` of
    each view (``grid``, ``compare``, ``filmstrip``, ``scalars``)."""
    saved = []
    with (
        serve(log_dir, args=["--samples_per_plugin", "images=3"]) as url,
        browser(width=width) as driver,
    ):
        open_xai_tab(driver, url)
        for view in views:
            enter_frame(driver)
            driver.execute_script(f"document.querySelector('[data-view={view}]').click()")
            time.sleep(1.0)
            driver.switch_to.default_content()
            saved.append(Path(out_dir) / f"dashboard_{view}.png")
            driver.save_screenshot(str(saved[-1]))
    return saved


if __name__ == "__main__":
    print(*screenshots(sys.argv[1], sys.argv[2], sys.argv[3:] or ["grid"]), sep="\n")
