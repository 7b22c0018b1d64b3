"""What the dashboard shows of one run, as plain JSON: the epochs, the picture grids and the
charts. Pure functions over a :class:`~lightning_xai.dashboard.store.RunLog`."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from lightning_xai.dashboard.store import RunLog
from lightning_xai.tags import TAGS, parse_tag

__all__ = ["image_batch", "run_index"]

# image kind -> (grid, the field that names the column); grids are listed in this order.
_GRIDS: dict[str, tuple[str, str]] = {
    "panel": ("panels", ""),
    "input_panel": ("panels", "input"),
    "attribution": ("attributions", "method"),
    "tokens": ("tokens", "method"),
    "feature_map": ("feature maps", "layer"),
    "attention": ("attention", "layer"),
    "attention_cls": ("attention", "layer"),
    "filters": ("filters", "layer"),
    "attribution_mean_abs": ("charts", "method"),
}
_GRID_ORDER = [
    "panels", "attributions", "tokens", "feature maps", "attention", "filters", "charts", "other"
]  # fmt: skip
# scalar kind -> (section, the field that names the chart or None for one chart, the field
# that names a line); sections are listed in this order.
_CHARTS: dict[str, tuple[str, str | None, str]] = {
    "metric": ("quality metrics", "metric", "method"),
    "time": ("time", None, "method"),
    "metric_time": ("time", "metric", "method"),
    "health": ("feature-map health", "scalar", "layer"),
    "attention_entropy": ("attention", None, "layer"),
    "feature": ("features", "method", "feature"),
    "budget": ("budget", None, "name"),
    "budget_knob": ("budget", "method", "knob"),
    "error": ("errors", None, "what"),
}
_SECTION_ORDER = [
    "quality metrics", "time", "feature-map health", "attention", "features", "budget",
    "errors", "other",
]  # fmt: skip


def run_index(name: str, log: RunLog) -> dict[str, Any]:
    """The JSON the dashboard draws a run from.

    Returns:
        ``{"run", "steps": [int], "epochs": [int], "epoch_of": {step: int}, "grids": [...],
        "charts": [...], "drift": {method: {metric: {step: value}}}}``. ``steps``: the steps
        with a picture (or a scalar, when there is no picture), sorted; ``epochs[i]`` is the epoch
        of ``steps[i]`` from ``xai/epoch`` (its position when that scalar is missing). A
        grid is ``{"name", "columns": [str], "rows": [int | None], "cells": {row: {column:
        tag}}, "steps": {tag: [int]}}`` (row ``None``, key ``"-"``: pictures of no sample,
        e.g. filters);
        a chart ``{"section", "title", "series": [{"name", "points": [[step, value]]}]}``.
    """
    steps = sorted({s for by_step in log.images.values() for s in by_step})
    if not steps:
        steps = sorted({s for by_step in log.scalars.values() for s in by_step})
    logged = log.scalars.get(TAGS["epoch"](), {})
    epochs = [int(logged[s]) if s in logged else i for i, s in enumerate(steps)]
    return {
        "run": name,
        "steps": steps,
        "epochs": epochs,
        "epoch_of": {str(s): int(v) for s, v in logged.items()},
        "grids": _grids(log),
        "charts": _charts(log),
        "drift": _drift(log),
    }


def image_batch(log: RunLog, tags: Iterable[str], steps: Iterable[int] | None) -> dict[str, Any]:
    """``{tag: {step: base64 PNG}}`` of ``tags`` at ``steps`` (every step when ``None``);
    pairs never logged are left out."""
    wanted = None if steps is None else set(steps)
    batch: dict[str, dict[str, str]] = {}
    for tag in tags:
        by_step = log.images.get(tag, {})
        chosen = by_step if wanted is None else wanted & by_step.keys()
        batch[tag] = {str(s): base64.b64encode(log.png(tag, s)).decode() for s in sorted(chosen)}
    return batch


def _grids(log: RunLog) -> list[dict[str, Any]]:
    cells: dict[str, dict[int | None, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for tag in log.images:
        parsed = parse_tag(tag)
        kind, fields = parsed if parsed else ("", {})
        grid, column_field = _GRIDS.get(kind, ("other", ""))
        column = str(fields.get(column_field, "panel" if grid == "panels" else tag))
        if kind == "attention_cls":
            column += " (cls)"
        k = fields.get("k")
        cells[grid][k if isinstance(k, int) else None][column] = tag
    grids = []
    for grid in sorted(cells, key=_GRID_ORDER.index):
        rows = sorted(cells[grid], key=lambda k: -1 if k is None else k)
        columns = sorted({c for row in cells[grid].values() for c in row})
        tags = [t for row in cells[grid].values() for t in row.values()]
        grids.append({
            "name": grid,
            "columns": columns,
            "rows": rows,
            "cells": {"-" if k is None else str(k): cells[grid][k] for k in rows},
            "steps": {t: sorted(log.images[t]) for t in tags},
        })  # fmt: skip
    return grids


def _charts(log: RunLog) -> list[dict[str, Any]]:
    series: dict[tuple[str, str], dict[str, list[list[float]]]] = defaultdict(dict)
    for tag, by_step in log.scalars.items():
        parsed = parse_tag(tag)
        kind, fields = parsed if parsed else ("", {})
        if kind == "epoch":
            continue
        section, title_field, line_field = _CHARTS.get(kind, ("other", None, ""))
        title = str(fields[title_field]) if title_field else (kind.replace("_", " ") or tag)
        if kind in ("time", "metric_time"):
            title = f"seconds of metric {title}" if kind == "metric_time" else "seconds per method"
        line = str(fields.get(line_field, tag))
        points = [[s, by_step[s]] for s in sorted(by_step)]
        series[(section, title)][line] = points
    return [
        {
            "section": section,
            "title": title,
            "series": [
                {"name": n, "points": p} for n, p in sorted(series[(section, title)].items())
            ],
        }
        for section, title in sorted(series, key=lambda st: (_SECTION_ORDER.index(st[0]), st[1]))
    ]


def _drift(log: RunLog) -> dict[str, dict[str, dict[str, float]]]:
    """method -> ``drift_*`` metric -> step -> value (the compare view's numbers)."""
    found: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for tag, by_step in log.scalars.items():
        parsed = parse_tag(tag)
        if parsed and parsed[0] == "metric" and str(parsed[1]["metric"]).startswith("drift"):
            metric, method = str(parsed[1]["metric"]), str(parsed[1]["method"])
            found[method][metric] = {str(s): v for s, v in by_step.items()}
    return dict(found)
