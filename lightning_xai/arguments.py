"""Checks of plain constructor arguments, with the house message: class, argument, valid, given."""

from __future__ import annotations

from typing import Any

__all__ = ["check_count", "check_optional_bool"]


def check_count(value: Any, arg: str, owner: str) -> int:
    """``value`` if it is an int >= 1 (not a bool); else ``TypeError``/``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{owner}: `{arg}` must be a positive int, got {value!r}.")
    if value < 1:
        raise ValueError(f"{owner}: `{arg}` must be a positive int (>= 1), got {value}.")
    return value


def check_optional_bool(value: Any, arg: str, owner: str) -> bool | None:
    """``value`` if it is ``True``, ``False`` or ``None``; else ``TypeError``."""
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{owner}: `{arg}` must be True, False or None, got {value!r}.")
    return value
