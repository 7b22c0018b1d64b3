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

from typing import TYPE_CHECKING

import pytorch_lightning as pl

__all__ = ["Callback"]

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
