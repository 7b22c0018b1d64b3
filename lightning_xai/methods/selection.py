"""The ``methods`` argument of AttributionMonitor turned into configured methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lightning_xai.methods.configured import ConfiguredMethod

__all__ = ["MethodsArg", "configure_methods"]

MethodsArg = Sequence[str] | Mapping[str, Mapping[str, Any] | None]
"""Method names, or a mapping name -> options."""


def configure_methods(methods: MethodsArg) -> list[ConfiguredMethod]:
    """One :class:`ConfiguredMethod` per entry; names must be distinct."""
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        configured = [ConfiguredMethod(k, v) for k, v in methods.items()]
    elif isinstance(methods, Sequence):
        configured = [ConfiguredMethod(k) for k in methods]
    else:
        raise TypeError(
            "AttributionMonitor: `methods` must be a list of method names or a mapping "
            f"name -> options, got {type(methods).__name__}."
        )
    if not configured:
        raise ValueError("AttributionMonitor: `methods` is empty; name at least one method.")
    tags = [m.tag for m in configured]
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise ValueError(
            f"AttributionMonitor: `methods` names {duplicates} more than once; give each entry "
            "its own name and the algorithm as option `method`."
        )
    return configured
