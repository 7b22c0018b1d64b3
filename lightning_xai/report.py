"""A static review page from a run's logs: ``python -m lightning_xai.report LOGDIR``.

Reads TensorBoard event files (or the file sink's PNGs and ``scalars.jsonl``) under LOGDIR
and writes ``report.html`` with one filmstrip PNG per method (probe samples as rows,
validation steps as columns) and a table of every ``xai/`` scalar per step.
"""

from __future__ import annotations

import argparse
import html
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from lightning_xai.tags import ROOT, parse_tag

__all__ = ["by_method", "filmstrip", "main", "read_logs", "write_report"]

_GAP = 2


def write_report(log_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Writes the review page for the run(s) under ``log_dir``; returns the HTML path.

    Args:
        log_dir: a directory holding TensorBoard event files or a file sink's output
            (``images/`` and ``scalars.jsonl``), searched recursively.
        out_dir: where to write (default: ``<log_dir>/xai_report``).
    """
    log_dir = Path(log_dir)
    out = Path(out_dir) if out_dir is not None else log_dir / "xai_report"
    out.mkdir(parents=True, exist_ok=True)
    images, scalars = read_logs(log_dir)
    if not images and not scalars:
        raise FileNotFoundError(f"report: no xai/ images or scalars found under {log_dir}.")
    strips: dict[str, tuple[str, list[int]]] = {}
    for method, samples in sorted(by_method(images).items()):
        name = f"filmstrip_{method.replace('/', '_')}.png"
        picture, steps = filmstrip(samples)
        Image.fromarray(picture).save(out / name)
        strips[method] = (name, steps)
    page = out / "report.html"
    page.write_text(_html(log_dir, strips, scalars))
    return page


def read_logs(
    log_dir: Path,
) -> tuple[dict[str, dict[int, np.ndarray]], dict[str, dict[int, float]]]:
    """Every image (tag -> step -> ``[H, W, 3]`` uint8) and ``xai/`` scalar (tag -> step ->
    value) under ``log_dir``, from event files and file-sink output alike."""
    images: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    scalars: dict[str, dict[int, float]] = defaultdict(dict)
    event_dirs = sorted({p.parent for p in log_dir.rglob("events.out.tfevents.*")})
    if event_dirs:
        from tensorboard.backend.event_processing import event_accumulator as ea

        for directory in event_dirs:
            acc = ea.EventAccumulator(
                str(directory), size_guidance=ea.STORE_EVERYTHING_SIZE_GUIDANCE
            )
            acc.Reload()
            for tag in acc.Tags()["images"]:
                for event in acc.Images(tag):
                    images[tag][event.step] = _decode(event.encoded_image_string)
            for tag in acc.Tags()["scalars"]:
                if tag.startswith(f"{ROOT}/"):
                    scalars[tag].update({e.step: e.value for e in acc.Scalars(tag)})
    for jsonl in log_dir.rglob("scalars.jsonl"):
        for line in jsonl.read_text().splitlines():
            record = json.loads(line)
            if "value" in record:
                scalars[record["tag"]][record["step"]] = record["value"]
        for png in (jsonl.parent / "images").rglob("step_*.png"):
            tag = png.parent.relative_to(jsonl.parent / "images").as_posix()
            images[tag][int(png.stem.split("_")[1])] = np.asarray(Image.open(png).convert("RGB"))
    return images, scalars


def by_method(
    images: dict[str, dict[int, np.ndarray]],
) -> dict[str, dict[int, dict[int, np.ndarray]]]:
    """method (``<method>`` or ``<method>/<input>``) -> sample -> step -> picture."""
    grouped: dict[str, dict[int, dict[int, np.ndarray]]] = defaultdict(dict)
    for tag, by_step in images.items():
        parsed = parse_tag(tag)  # ``<method>`` or ``<method>/<input>`` on multi-input models
        if parsed is not None and parsed[0] == "attribution":
            fields = parsed[1]
            grouped[str(fields["method"])][int(fields["k"])] = by_step
    return grouped


def filmstrip(samples: dict[int, dict[int, np.ndarray]]) -> tuple[np.ndarray, list[int]]:
    """One picture of a method's evolution: ``[H', W', 3]`` uint8 and its steps.

    Rows: samples; columns: steps; white gaps; a missing picture stays white.
    """
    steps = sorted({s for by_step in samples.values() for s in by_step})
    height = max(p.shape[0] for by_step in samples.values() for p in by_step.values())
    width = max(p.shape[1] for by_step in samples.values() for p in by_step.values())
    rows, cols = len(samples), len(steps)
    canvas = np.full(
        (rows * (height + _GAP) - _GAP, cols * (width + _GAP) - _GAP, 3), 255, np.uint8
    )
    for r, k in enumerate(sorted(samples)):
        for c, step in enumerate(steps):
            picture = samples[k].get(step)
            if picture is not None:
                y, x = r * (height + _GAP), c * (width + _GAP)
                canvas[y : y + picture.shape[0], x : x + picture.shape[1]] = picture[..., :3]
    return canvas, steps


def _html(
    log_dir: Path, strips: dict[str, tuple[str, list[int]]], scalars: dict[str, dict[int, float]]
) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>lightning-xai report</title>",
        "<style>body{font-family:sans-serif;margin:2em}img{image-rendering:pixelated;"
        "max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}</style></head><body>",
        f"<h1>lightning-xai report</h1><p>Run: <code>{html.escape(str(log_dir))}</code></p>",
    ]
    for method, (name, steps) in strips.items():
        parts.append(
            f"<h2>{html.escape(method)}</h2><p>Rows: probe samples; columns: steps "
            f"{', '.join(map(str, steps))}.</p><img src='{name}' alt='{html.escape(method)}'>"
        )
    if scalars:
        steps = sorted({s for values in scalars.values() for s in values})
        parts.append("<h2>Scalars</h2><table><tr><th>tag</th>")
        parts.extend(f"<th>{s}</th>" for s in steps)
        parts.append("</tr>")
        for tag in sorted(scalars):
            cells = "".join(
                f"<td>{scalars[tag][s]:.4g}</td>" if s in scalars[tag] else "<td></td>"
                for s in steps
            )
            parts.append(f"<tr><th>{html.escape(tag)}</th>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def main(argv: list[str] | None = None) -> Path:
    """Command line: ``python -m lightning_xai.report LOGDIR [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m lightning_xai.report", description=__doc__)
    parser.add_argument("log_dir", help="a run's log directory (event files or file sink)")
    parser.add_argument("--out", default=None, help="output directory (default LOGDIR/xai_report)")
    args = parser.parse_args(argv)
    page = write_report(args.log_dir, args.out)
    print(f"Wrote {page}")
    return page


if __name__ == "__main__":
    main()
