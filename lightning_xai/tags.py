"""Every tag the monitors write: built from one table, parsed back with the same table.

Writers call :data:`TAGS` ``[kind](**fields)``; readers (the report, the dashboard, tests)
call :func:`parse_tag`. A tag's fields are filled into its template; ``k`` (a probe sample)
is written with two digits.

Example:
    >>> TAGS["attribution"](method="saliency", k=3)
    'xai/attributions/saliency/sample_03'
    >>> parse_tag("xai/attributions/saliency/sample_03")
    ('attribution', {'method': 'saliency', 'k': 3})
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TAGS", "TagKind", "chart_pattern", "panel_tag", "parse_tag"]

ROOT = "xai"

# What each field may hold. A method may carry its input's name (``<method>/<input>``) on a
# multi-input model; layer names hold dots, never slashes.
_FIELDS = {
    "k": r"\d+",
    "head": r"\d+",
    "method": r"[^/]+(?:/[^/]+)?",
    "input": r"[^/]+",
    "what": r"[^/]+(?:/[^/]+)*",  # a method, ``<metric>/<method>``, ``run``, ``probe``...
}
_DEFAULT_FIELD = r"[^/]+"
_INTS = ("k", "head")  # fields parsed back as ints


@dataclass(frozen=True)
class TagKind:
    """One kind of tag: its template, a builder (call it) and a parser (:meth:`match`).

    Args:
        kind: the table's key, e.g. ``"attribution"``.
        template: ``str.format`` template, e.g. ``"xai/attributions/{method}/sample_{k:02d}"``.
    """

    kind: str
    template: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            parts.append(re.escape(literal))
            if name is not None:
                parts.append(f"(?P<{name}>{_FIELDS.get(name, _DEFAULT_FIELD)})")
        object.__setattr__(self, "pattern", re.compile("^" + "".join(parts) + "$"))

    def __call__(self, **fields: Any) -> str:
        return self.template.format(**fields)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.pattern.groupindex)

    def match(self, tag: str) -> dict[str, str | int] | None:
        """The fields of ``tag`` if it is of this kind (``k`` as an int), else ``None``."""
        found = self.pattern.match(tag)
        if found is None:
            return None
        return {k: int(v) if k in _INTS else v for k, v in found.groupdict().items()}


# Most specific first: parse_tag returns the first kind that matches.
_TABLE = {
    # AttributionMonitor
    "attribution": "xai/attributions/{method}/sample_{k:02d}",
    "attribution_mean_abs": "xai/attributions/{method}/mean_abs",
    "attribution_values": "xai/attributions/{method}/values",
    "panel": "xai/panels/sample_{k:02d}",
    "input_panel": "xai/panels/{input}/sample_{k:02d}",
    "tokens": "xai/tokens/{method}/sample_{k:02d}",
    "feature": "xai/features/{method}/{feature}",
    "metric_time": "xai/time/metric_{metric}/{method}",
    "time": "xai/time/{method}",
    "metric_per_sample": "xai/metrics/{metric}/{method}/per_sample",
    "metric": "xai/metrics/{metric}/{method}",
    "budget_knob": "xai/budget/{method}/{knob}",
    "budget": "xai/budget/{name}",
    # LanguageModelMonitor
    "prompt_log_prob": "xai/prompts/log_prob/prompt_{k:02d}",
    "prompt_tokens": "xai/prompts/{method}/prompt_{k:02d}",
    # every monitor
    "epoch": "xai/epoch",
    "error": "xai/errors/{what}",
    # AttentionMonitor
    "attention_cls": "xai/attention/{layer}/cls/sample_{k:02d}",
    "attention": "xai/attention/{layer}/sample_{k:02d}",
    "attention_entropy": "xai/attention/{layer}/entropy",
    "attention_head_entropy": "xai/attention/{layer}/entropy/head_{head:02d}",
    "attention_model": "xai/attention_model/sample_{k:02d}",
    # FeatureMapMonitor
    "filters": "xai/filters/{layer}",
    "feature_map": "xai/feature_maps/{layer}/sample_{k:02d}",
    "feature_map_channels": "xai/feature_maps/{layer}/channels",
    "health": "xai/health/{layer}/{scalar}",
    "histogram": "xai/histograms/{layer}/{values}",
}

TAGS: dict[str, TagKind] = {kind: TagKind(kind, template) for kind, template in _TABLE.items()}
"""kind -> :class:`TagKind`; the single source of the monitors' tag names."""


def parse_tag(tag: str) -> tuple[str, dict[str, str | int]] | None:
    """``(kind, fields)`` of a monitor's tag, or ``None`` for any other tag."""
    for kind in TAGS.values():
        fields = kind.match(tag)
        if fields is not None:
            return kind.kind, fields
    return None


def panel_tag(k: int, name: str = "") -> str:
    """The panel of probe sample ``k``; of input ``name`` on a multi-input model (``""``: one
    input, no name in the tag)."""
    return TAGS["input_panel"](input=name, k=k) if name else TAGS["panel"](k=k)


def chart_pattern(kind: str, **fixed: str) -> str:
    """A regex of every tag of ``kind``, for Custom Scalars charts; ``fixed`` maps fields to the
    regex they must match instead of the default (e.g. a plain name).

    Example:
        >>> chart_pattern("health", scalar="dead_fraction")
        'xai/health/[^/]+/dead_fraction$'
    """
    parts = []
    for literal, name, _, _ in string.Formatter().parse(TAGS[kind].template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(fixed.get(name) or _FIELDS.get(name, _DEFAULT_FIELD))
    return "".join(parts) + "$"
