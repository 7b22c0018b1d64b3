"""A monitor's identity in checkpoints, stable across configuration changes.

The checkpoint state of a monitor is keyed by its class, its optional ``name`` and its
position among the Trainer's monitors of that class and name, so a resume with other methods,
metrics or drawing options finds its probe (and says once what changed). Checkpoints written
before, whose key held the configuration (``AttributionMonitor{'num_probes': 16,
'probe_seed': 0, 'methods': [...]}``), are read by position too.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from typing_extensions import override

from lightning_xai.callbacks.compat import Callback

__all__ = ["CheckpointIdentity"]


class CheckpointIdentity(Callback):
    """Base of the monitors: a ``state_key`` from class, ``name`` and position.

    Subclasses call :meth:`_take_position` in ``setup``, store :meth:`_state_key_fields` in
    their state and pass the loaded one to :meth:`_resume_note`.

    Args:
        name: a string or ``None``.
    """

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"{type(self).__name__}: `name` must be a string or None, got "
                f"{type(name).__name__}."
            )
        self.name = name
        self._position: int | None = None

    @property
    @override
    def state_key(self) -> str:
        """Before ``setup`` (when the Trainer checks that keys are unique) the position is not
        known yet and the instance stands in for it."""
        position = f"instance {id(self):x}" if self._position is None else self._position
        return self._generate_state_key(name=self.name, position=position)

    def _state_key_fields(self) -> dict[str, Any]:
        """The configuration saved with the state; a resume says how it changed."""
        return {}

    def _take_position(self, callbacks: list[pl.Callback]) -> None:
        """Index among ``callbacks`` of this exact class with this ``name``."""
        same = [
            c
            for c in callbacks
            if isinstance(c, CheckpointIdentity) and type(c) is type(self) and c.name == self.name
        ]
        self._position = next(i for i, c in enumerate(same) if c is self)

    def _resume_note(self, saved: Any) -> str | None:
        """What changed since the checkpoint's configuration ``saved``, or ``None``."""
        if not isinstance(saved, dict):
            return None
        now = self._state_key_fields()
        changed = [f"`{k}` {saved.get(k)!r} -> {v!r}" for k, v in now.items() if saved.get(k) != v]
        if not changed:
            return None
        return (
            f"resumed from a checkpoint made with another configuration ({'; '.join(changed)}); "
            "its probe, run count and references (drift) carry over."
        )

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """An old-format key of this class (the one at this position) is copied to the current
        key, when the checkpoint has none under the current key."""
        states = checkpoint.get("callbacks") or {}
        prefix = f"{type(self).__qualname__}{{"
        old = [k for k in states if str(k).startswith(prefix) and "'position'" not in str(k)]
        index = self._position or 0
        if self.state_key not in states and index < len(old):
            states[self.state_key] = states[old[index]]
