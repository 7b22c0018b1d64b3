"""TensorBoard as a user sees it: a local server and a headless-Chromium screenshot.

    python -m example_trainers.pictures.tensorboard_view LOGDIR OUT.png [TAG_FILTER]

Used for the README's screenshot and by the browser test.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["fetch_json", "screenshot", "serve"]

_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


@contextmanager
def serve(
    log_dir: str | Path,
    expect_tag: str | None = None,
    timeout: float = 90,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """Runs ``tensorboard`` on 127.0.0.1 over ``log_dir`` (with extra command-line ``args``);
    yields its base URL once it serves (and, with ``expect_tag``, once that image tag is
    loaded). Stops it on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    binary = Path(sys.executable).with_name("tensorboard")
    command = [str(binary), "--logdir", str(log_dir), "--host", "127.0.0.1", "--port", str(port)]
    command += list(args)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                tags = fetch_json(f"{url}/data/plugin/images/tags")
                if expect_tag is None or any(expect_tag in run for run in tags.values()):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise TimeoutError(f"tensorboard did not serve {log_dir} within {timeout} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # seen on a heavily loaded machine
            process.kill()
            process.wait()


def fetch_json(url: str) -> Any:
    """GET ``url`` and parse JSON (loopback only)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def screenshot(url: str, out: str | Path, tag_filter: str = "", size: str = "1400,900") -> Path:
    """Saves a headless-Chromium screenshot of TensorBoard's IMAGES dashboard."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    page = f"{url}/#images&tagFilter={urllib.parse.quote(tag_filter)}"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                *_CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                "--virtual-time-budget=20000",
                f"--screenshot={out}",
                page,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return Path(out)


if __name__ == "__main__":
    with serve(sys.argv[1]) as base:
        print(screenshot(base, sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "panels"))
