"""Self-contained review pages: ``python -m lightning_xai.report LOGDIR [--out DIR]``.

Writes one HTML file per run found under LOGDIR (a directory of TensorBoard event files, or
of a file sink's ``images/`` and ``scalars.jsonl``): the XAI dashboard's own page (grid,
compare, filmstrip and scalars) with the run's data and every picture inlined, so that it
opens from disk with no server. Runs are never merged.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from lightning_xai.dashboard import STATIC, LogStore
from lightning_xai.dashboard.views import image_batch, run_index

__all__ = ["main", "read_logs", "write_report"]

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>lightning-xai: {title}</title>
<style>{css}</style></head>
<body><script type="application/json" id="xai-data">{data}</script>
<script type="module">{js}</script></body></html>
"""


def write_report(log_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Writes ``<out_dir>/<run>.html`` for every run under ``log_dir``; returns the paths.

    Args:
        log_dir: a run's directory or a log root holding several runs (searched recursively).
        out_dir: where to write (default: ``<log_dir>/xai_report``).

    Raises:
        FileNotFoundError: when no run under ``log_dir`` has ``xai/`` data.
    """
    log_dir = Path(log_dir)
    out = Path(out_dir) if out_dir is not None else log_dir / "xai_report"
    store = LogStore(log_dir)
    runs = store.runs()
    if not runs:
        raise FileNotFoundError(f"report: no xai/ images or scalars found under {log_dir}.")
    out.mkdir(parents=True, exist_ok=True)
    script, css = (STATIC / "index.js").read_text(), (STATIC / "dashboard.css").read_text()
    pages = []
    for run in runs:
        log = store.run(run)
        data = {
            "runs": [run],
            "index": {run: run_index(run, log)},
            "images": {run: image_batch(log, list(log.images), None)},
        }
        name = log_dir.resolve().name if run == "." else run.replace("/", "_")
        page = out / f"{name}.html"
        text = json.dumps(data).replace("</", "<\\/")  # nothing in the data closes the script
        page.write_text(_PAGE.format(title=run, css=css, data=text, js=script))
        pages.append(page)
    return pages


def read_logs(
    log_dir: str | Path,
) -> tuple[dict[str, dict[int, np.ndarray]], dict[str, dict[int, float]]]:
    """The pictures (tag -> step -> ``[H, W, 3]`` uint8) and ``xai/`` scalars (tag -> step ->
    value) of the one run in ``log_dir``; ``ValueError`` when it holds several runs."""
    store = LogStore(log_dir)
    runs = store.runs()
    if len(runs) != 1:
        raise ValueError(f"read_logs: expected one run under {log_dir}, found {runs}.")
    log = store.run(runs[0])
    images = {
        tag: {
            s: np.asarray(Image.open(io.BytesIO(log.png(tag, s))).convert("RGB")) for s in by_step
        }
        for tag, by_step in log.images.items()
    }
    return images, {tag: dict(by_step) for tag, by_step in log.scalars.items()}


def main(argv: list[str] | None = None) -> list[Path]:
    """Command line: ``python -m lightning_xai.report LOGDIR [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m lightning_xai.report", description=__doc__)
    parser.add_argument("log_dir", help="a log directory (one run, or a root of several)")
    parser.add_argument("--out", default=None, help="output directory (default LOGDIR/xai_report)")
    args = parser.parse_args(argv)
    pages = write_report(args.log_dir, args.out)
    for page in pages:
        print(f"Wrote {page}")
    return pages


if __name__ == "__main__":
    main()
