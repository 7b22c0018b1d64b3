"""Argument checks shared by the monitors: each raises with the argument in backticks, what is
valid and what was given; the monitor names itself once, with :func:`named_errors`.

Example:
    >>> with named_errors("FeatureMapMonitor"):
    ...     check_count("tile_size", 0)
    Traceback (most recent call last):
    ...
    ValueError: FeatureMapMonitor: `tile_size` must be >= 1, got 0.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = [
    "check_callable",
    "check_choice",
    "check_count",
    "check_names",
    "check_optional_bool",
    "check_pair",
    "check_positions",
    "check_strings",
    "is_int",
    "named_errors",
    "resolve_callable",
]


@contextmanager
def named_errors(owner: str, renames: Mapping[str, str] | None = None) -> Iterator[None]:
    """The one boundary where the monitors name themselves: a ``TypeError`` or ``ValueError``
    raised inside (by the validators and every module below the callbacks, which raise
    without a name) is raised again as ``"<owner>: <message>"``, with the argument names
    in ``renames`` (e.g. ``{"`seed`": "`probe_seed`"}``) as the owner calls them. (Modules
    below the callbacks return notes for the user rather than warn: the monitor shows them.)

    Example:
        >>> with named_errors("AttributionMonitor"):
        ...     raise ValueError("`max_seconds` must be > 0, got 0.")
        Traceback (most recent call last):
        ...
        ValueError: AttributionMonitor: `max_seconds` must be > 0, got 0.
    """
    try:
        yield
    except (TypeError, ValueError) as err:
        message = str(err)
        if message.startswith(f"{owner}: "):  # named already, by an inner boundary
            raise
        for inner, outer in (renames or {}).items():
            message = message.replace(inner, outer)
        raise type(err)(f"{owner}: {message}") from err.__cause__


def is_int(value: object) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_count(name: str, value: Any, *, allow_none: bool = False, minimum: int = 1) -> None:
    """``value`` is an int >= ``minimum`` (a positive int by default), or ``None`` when allowed."""
    if value is None and allow_none:
        return
    if not is_int(value):
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        hint = " or None" if allow_none else ""
        raise TypeError(f"`{name}` must be {what}{hint}, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")


def check_pair(name: str, value: Any) -> tuple[int, int] | None:
    """``value`` is ``None`` or two positive ints, e.g. ``(rows, cols)``; returns it as a tuple."""
    if value is None:
        return None
    if not isinstance(value, Sequence) or len(value) != 2 or not all(
        is_int(v) and v > 0 for v in value
    ):
        raise ValueError(f"`{name}` must be (rows, cols) of positive ints or None, got {value!r}.")
    return int(value[0]), int(value[1])


def check_choice(name: str, value: Any, choices: Collection[Any]) -> None:
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}.")


def check_callable(name: str, value: Any, what: str, *, allow_none: bool = True) -> None:
    """``value`` is callable (or ``None`` when allowed); ``what`` describes its signature."""
    if (value is None and allow_none) or callable(value):
        return
    hint = " or None" if allow_none else ""
    raise TypeError(
        f"`{name}` must be a callable {what}{hint}, got {type(value).__name__}."
    )


def resolve_callable(name: str, value: Any) -> Any:
    """A callable given by name, as config files write it: a function of ``torch`` or
    ``torch.nn.functional`` (``"relu"``, ``"gelu"``) or an import path (``"torch.tanh"``,
    ``"my_package.module.function"``); anything else is returned as it is.

    Example:
        >>> resolve_callable("activation", "torch.relu").__name__
        'relu'
    """
    if not isinstance(value, str):
        return value
    import importlib

    import torch

    module_path, _, attribute = value.rpartition(".")
    found: Any = None
    if not module_path:
        found = getattr(torch, value, None) or getattr(torch.nn.functional, value, None)
    else:
        try:
            found = getattr(importlib.import_module(module_path), attribute, None)
        except ImportError:
            found = None
    if not callable(found):
        raise ValueError(
            f"`{name}` must be a callable, the name of a torch function (e.g. 'relu', "
            f"'gelu', 'sigmoid') or an import path (e.g. 'torch.tanh'), got {value!r}."
        )
    return found


def check_names(name: str, value: Sequence[str] | str | None) -> list[str] | None:
    """Distinct names (a single string is one name); ``None`` stays ``None`` (all)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(n, str) for n in value):
        raise TypeError(
            f"`{name}` must be a list of dotted layer names (str) or None, got {value!r}."
        )
    if not value:
        raise ValueError(f"`{name}` is empty; name a layer or pass None (all).")
    duplicates = sorted({n for n in value if list(value).count(n) > 1})
    if duplicates:
        raise ValueError(f"`{name}` names {duplicates} more than once.")
    return list(value)


def check_positions(name: str, value: Any, size: int) -> list[int]:
    """Distinct positions in ``[0, size)``."""
    if not isinstance(value, Sequence) or not all(is_int(k) for k in value):
        raise TypeError(
            f"`{name}` must be a list of probe positions (int), got {value!r}."
        )
    if len(set(value)) != len(value) or not all(0 <= k < size for k in value):
        raise ValueError(
            f"`{name}` must be distinct positions in [0, {size}) (the probe size), got "
            f"{list(value)}."
        )
    return list(value)


def check_strings(name: str, value: Any) -> list[str] | None:
    """A sequence of strings (not one string), or ``None``."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"`{name}` must be a sequence of strings, got {value!r}.")
    if not all(isinstance(n, str) for n in value):
        raise TypeError(f"`{name}` must be a sequence of strings, got {value!r}.")
    return list(value)


def check_optional_bool(name: str, value: Any) -> None:
    """``value`` is ``True``, ``False`` or ``None``."""
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True, False or None, got {value!r}.")
