"""One ``Callback`` base for both Lightning packages.

``lightning.pytorch.Callback`` and ``pytorch_lightning.Callback`` are different classes, and
each package's ``LightningCLI`` checks ``issubclass`` against its own. Where both packages
are installed, the monitors derive from both, so either Trainer and either CLI take them.

Example:
    >>> import pytorch_lightning
    >>> issubclass(Callback, pytorch_lightning.Callback)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl

__all__ = ["Callback", "first_loader", "overrides", "unsupported_trainer"]

if TYPE_CHECKING:
    Callback = pl.Callback
else:
    try:
        from lightning.pytorch import Callback as _UnifiedCallback
    except ImportError:  # only pytorch_lightning is installed
        Callback = pl.Callback
    else:

        class Callback(pl.Callback, _UnifiedCallback):
            """A ``Callback`` of both ``pytorch_lightning`` and ``lightning.pytorch``."""


def overrides(module: Any, name: str) -> bool:
    """Whether ``module`` overrides LightningModule's ``name`` (either Lightning namespace)."""
    base = next((c for c in type(module).__mro__ if c.__name__ == "LightningModule"), None)
    return base is None or getattr(type(module), name, None) is not getattr(base, name, None)


def first_loader(loaders: Any) -> Any:
    """The first of a stage's dataloaders (a list, a dict or one loader), or ``None``."""
    if isinstance(loaders, list | tuple):
        return loaders[0] if loaders else None
    if isinstance(loaders, dict):
        return next(iter(loaders.values()), None)
    return loaders


def unsupported_trainer(trainer: Any, pl_module: Any, stage: str) -> str | None:
    """Why a monitor cannot run after the validation epochs of this fit, or ``None``."""
    if stage == "fit" and not overrides(pl_module, "validation_step"):
        return (
            f"this callback runs after validation epochs, but {type(pl_module).__name__} defines "
            "no `validation_step`: add one (and validation data), or remove the callback."
        )
    if stage == "fit" and trainer.limit_val_batches == 0:
        return (
            "this callback runs after validation epochs, but the Trainer has "
            "`limit_val_batches=0`."
        )
    return None
