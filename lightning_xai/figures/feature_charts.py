"""Logging of 1-D attributions ``[N, U]`` as bar charts: tabular inputs and 1-D layers.

Kept apart from :class:`~lightning_xai.callbacks.AttributionMonitor` (which calls
:func:`log_feature_charts` from ``_log_pictures``) so that the picture code for images and the
chart code for vectors stay independent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from lightning_xai.render import bar_chart, text_strip, titled_row
from lightning_xai.render.colorbar import negligible
from lightning_xai.sinks import Sink
from lightning_xai.tags import TAGS, panel_tag

__all__ = ["check_feature_names", "feature_tag", "log_feature_charts"]


def log_feature_charts(
    sinks: Sequence[Sink],
    charts: Mapping[str, Tensor],
    tags: Mapping[str, str],
    step: int,
    *,
    unit_keys: set[str],
    feature_names: Sequence[str] | None,
    titles: Sequence[str],
    panels: bool,
    panel_input: str = "",
    outputs: Tensor | None = None,
) -> None:
    """Logs bar charts and per-feature scalars of 1-D attributions.

    For each method ``key`` with attributions ``[N, U]``:

    - ``xai/attributions/<tag>/sample_<k>``: bar chart of sample k, titled;
    - ``xai/attributions/<tag>/mean_abs``: bar chart of the mean ``|attribution|`` over the
      probe;
    - ``xai/features/<tag>/<feature>``: that mean per input feature (not for layer units), so
      that each feature's importance is a curve over training;
    - with ``panels``: ``xai/panels[/<panel_input>]/sample_<k>``, every method's chart of
      sample k side by side.

    Args:
        sinks: where to write.
        charts: method key -> attributions ``[N, U]`` on the CPU.
        tags: method key -> tag.
        step: the step to log at.
        unit_keys: keys whose attributions are over a layer's units (bars ``unit_<i>``),
            not over the input features.
        feature_names: ``F`` names of the input features, or ``None`` (``feature_<i>``).
        titles: one title per probe sample.
        panels: also log one panel per sample (tabular inputs; images have their own).
        panel_input: the input's name in the panel tags of a multi-input model, else ``""``.
        outputs: the model's outputs ``[N, ...]``: a chart too weak to draw against them
            (:func:`~lightning_xai.render.colorbar.negligible`) is left empty and titled
            ``~0``; ``None``: every chart is drawn.
    """
    per_sample: dict[str, Tensor] = {}
    for key, attribution in charts.items():
        tag, units = tags[key], attribution.shape[1]
        names = _names(units, None if key in unit_keys else feature_names, key in unit_keys)
        scale = attribution.abs().amax(dim=1)
        marked = torch.zeros_like(scale, dtype=torch.bool)
        if outputs is not None:
            marked = negligible(attribution, outputs)
        pictures = bar_chart(attribution * ~marked[:, None], names)
        per_sample[key] = pictures
        for k in range(attribution.shape[0]):
            reach = (
                f"~0 (max {float(scale[k]):.1e})" if marked[k] else f"bars to {float(scale[k]):.3g}"
            )
            title = f"{titles[k]} | {reach}"
            picture = _with_title(pictures[k], title)
            for sink in sinks:
                sink.add_image(TAGS["attribution"](method=tag, k=k), picture, step)
        mean_abs = attribution.abs().mean(dim=0)
        summary = _with_title(
            bar_chart(mean_abs, names)[0],
            f"mean |attribution| over {attribution.shape[0]} probes, bars to "
            f"{float(mean_abs.max()):.3g}",
        )
        for sink in sinks:
            sink.add_image(TAGS["attribution_mean_abs"](method=tag), summary, step)
        if key not in unit_keys:
            for name, value in zip(names, mean_abs.tolist(), strict=True):
                for sink in sinks:
                    tag_ = TAGS["feature"](method=tag, feature=feature_tag(name))
                    sink.add_scalar(tag_, value, step)
    if not panels or not per_sample:
        return
    height = max(p.shape[2] for p in per_sample.values())
    for k, title in enumerate(titles):
        tiles = [_pad_to(p[k], height) for p in per_sample.values()]
        panel = titled_row(tiles, [tags[key] for key in per_sample], title)
        for sink in sinks:
            sink.add_image(panel_tag(k, panel_input), panel, step)


def check_feature_names(names: Sequence[str] | None, inputs: Tensor) -> None:
    """Raises ``ValueError`` unless ``names`` is ``None`` or names each column of ``[N, F]``."""
    if names is None:
        return
    if inputs.ndim != 2:
        raise ValueError(
            f"`feature_names` names the columns of tabular inputs [N, F]; the probe is "
            f"{tuple(inputs.shape)}."
        )
    if len(names) != inputs.shape[1]:
        raise ValueError(
            f"`feature_names` must name the {inputs.shape[1]} input features, got "
            f"{len(names)} names."
        )


def feature_tag(name: str) -> str:
    """A feature name as a tag component: ``"mean radius"`` -> ``"mean_radius"``."""
    return re.sub(r"[^0-9A-Za-z_.\-]+", "_", name).strip("_") or "feature"


def _names(count: int, given: Sequence[str] | None, units: bool) -> list[str]:
    if given is not None and len(given) == count:
        return list(given)
    width = len(str(count - 1))
    return [f"{'unit' if units else 'feature'}_{i:0{width}d}" for i in range(count)]


def _with_title(picture: Tensor, title: str) -> Tensor:
    strip = text_strip([title], [picture.shape[2]], gap=0).to(picture)
    return torch.cat([strip, picture], dim=1)


def _pad_to(picture: Tensor, height: int) -> Tensor:
    if picture.shape[1] == height:
        return picture
    pad = torch.ones(3, height - picture.shape[1], picture.shape[2], dtype=picture.dtype)
    return torch.cat([picture, pad], dim=1)
