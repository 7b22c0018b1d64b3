"""The XAI dashboard: a TensorBoard plugin (the "XAI" tab) and the data it shows.

The plugin is found by TensorBoard through the ``tensorboard_plugins`` entry point;
:mod:`lightning_xai.report` writes the same views into self-contained HTML files.
"""

from pathlib import Path

from lightning_xai.dashboard.store import LogStore

__all__ = ["STATIC", "LogStore"]

STATIC = Path(__file__).parent / "static"
"""The page's plain files: ``index.js`` and ``dashboard.css``."""
