"""A clean console: each distinct warning of a monitor once, whatever the number of runs."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from lightning_utilities.core.rank_zero import rank_zero_warn

__all__ = ["WarnOnce"]

# Captum's notices about what it does on purpose at every call; they say nothing to a user.
_CAPTUM_NOTICES = (
    "Input Tensor .* did not already require gradients",
    "Setting forward, backward hooks and attributes on non-linear",
    "Setting backward hooks on ReLU activations",
    "You are providing multiple inputs for Lime / Kernel SHAP",
)


class WarnOnce:
    """Warnings of one monitor, each shown once (on global rank zero).

    Args:
        name: the monitor's name, put before its own messages.

    Example:
        >>> once = WarnOnce("AttributionMonitor")
        >>> with warnings.catch_warnings(record=True) as shown:
        ...     warnings.simplefilter("always")
        ...     for _ in range(3):
        ...         with once.collect():
        ...             warnings.warn("torch says this at every run")
        >>> len(shown)
        1
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: set[object] = set()

    def warn(self, key: str, message: str, category: type[Warning] = UserWarning) -> None:
        """Warns ``"<name>: <message>"`` the first time ``key`` is seen."""
        if key not in self.seen:
            self.seen.add(key)
            rank_zero_warn(f"{self.name}: {message}", category=category, stacklevel=5)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Holds back the warnings raised inside (Captum's routine notices are dropped) and
        shows each distinct one (category and message) the first time only: torch's and
        Captum's warnings would otherwise repeat at every run."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for notice in _CAPTUM_NOTICES:
                warnings.filterwarnings("ignore", message=notice)
            try:
                yield
            finally:
                held = list(caught)
        for record in held:
            key = (record.category, str(record.message))
            if key not in self.seen:
                self.seen.add(key)
                warnings.warn_explicit(
                    record.message, record.category, record.filename, record.lineno
                )
