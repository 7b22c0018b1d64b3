"""Which sinks a monitor writes to by default, and where its files go."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning_xai.sinks.base import Sink
from lightning_xai.sinks.files import FileSink
from lightning_xai.sinks.logger import LoggerSink, logger_kind
from lightning_xai.sinks.tensorboard import TensorBoardSink

__all__ = ["SinksArg", "check_sinks", "fallback_note", "resolve_sinks", "select_sinks"]

SinksArg = Sequence[Sink] | Callable[[Any], Sequence[Sink]] | None
"""A monitor's ``sinks=``: sinks, a callable ``trainer -> sinks``, or ``None`` (the default)."""

_VERSIONED = ("TensorBoardLogger", "CSVLogger")  # loggers whose log_dir is the run's own folder
_FALLBACK_FOLDERS: weakref.WeakKeyDictionary[Any, Path] = weakref.WeakKeyDictionary()


def select_sinks(trainer: Any, charts: Mapping[str, str] | None = None) -> list[Sink]:
    """The default sinks for ``trainer``: TensorBoard, then the other loggers, then files.

    - every ``TensorBoardLogger``: a :class:`TensorBoardSink` on its writer (everything);
    - every other logger: a :class:`LoggerSink` (scalars through ``log_metrics``; images,
      histograms and text where the logger has an API for them);
    - no logger that takes images (none, or only CSV): also a :class:`FileSink` in
      ``<run>/xai``, where ``<run>`` is the CSV logger's version folder, else the next free
      ``<default_root_dir>/xai_runs/version_<n>`` (two runs never share a file).

    ``trainer.validate()`` and ``trainer.test()`` are kept apart from the validations of
    ``fit``: TensorBoard gets a run of its own, ``<log_dir>/xai_<stage>`` (same tags, shown
    as a separate run), other loggers get the tags prefixed with ``<stage>/`` (``test/xai/...``),
    and files go to ``<run>/xai_<stage>``.

    Args:
        trainer: a ``Trainer`` of either Lightning package.
        charts: Custom Scalars layout for TensorBoard (title -> regex of scalar tags).

    Returns:
        The sinks, in that order.
    """
    stage = getattr(trainer.state.fn, "value", None) or "fit"
    apart = stage != "fit"
    sinks: list[Sink] = []
    for logger in trainer.loggers:
        if logger_kind(logger) == "TensorBoardLogger":
            if apart:
                sinks.append(_stage_writer(Path(logger.log_dir) / f"xai_{stage}", charts))
            else:
                sinks.append(TensorBoardSink(logger.experiment, charts))
        else:
            sinks.append(LoggerSink(logger, prefix=f"{stage}/" if apart else ""))
    if not any(_holds_images(sink) for sink in sinks):
        sinks.append(FileSink(run_folder(trainer) / (f"xai_{stage}" if apart else "xai")))
    return sinks


def check_sinks(sinks: Any) -> SinksArg:
    """``sinks`` is a :data:`SinksArg`; returns it."""
    if not (sinks is None or callable(sinks) or isinstance(sinks, Sequence)):
        raise TypeError(
            f"`sinks` must be a list of sinks, a callable trainer -> sinks, or None, "
            f"got {type(sinks).__name__}."
        )
    return sinks


def resolve_sinks(trainer: Any, sinks: SinksArg, charts: Mapping[str, str] | None) -> list[Sink]:
    """The sinks a monitor's ``sinks=`` gives for ``trainer`` (``None``: :func:`select_sinks`)."""
    if sinks is None:
        return select_sinks(trainer, charts)
    return list(sinks(trainer) if callable(sinks) else sinks)


def run_folder(trainer: Any) -> Path:
    """The folder of ``trainer``'s run: the version folder of its first TensorBoard or CSV
    logger, else ``<default_root_dir>/xai_runs/version_<n>`` with the first free ``n``,
    chosen once per Trainer (every monitor and stage of a run shares it)."""
    for logger in trainer.loggers:
        if logger_kind(logger) in _VERSIONED and getattr(logger, "log_dir", None):
            return Path(logger.log_dir)
    if trainer not in _FALLBACK_FOLDERS:
        root = Path(trainer.default_root_dir) / "xai_runs"
        n = 0
        while (root / f"version_{n}").exists():
            n += 1
        _FALLBACK_FOLDERS[trainer] = root / f"version_{n}"
    return _FALLBACK_FOLDERS[trainer]


def _stage_writer(folder: Path, charts: Mapping[str, str] | None) -> TensorBoardSink:
    from torch.utils.tensorboard import SummaryWriter

    return TensorBoardSink(SummaryWriter(str(folder)), charts, owns_writer=True)


def _holds_images(sink: Sink) -> bool:
    return isinstance(sink, TensorBoardSink) or bool(getattr(sink, "holds_images", False))


def fallback_note(sinks: Sequence[Sink]) -> str | None:
    """What to tell the user when :func:`select_sinks` fell back to files, else ``None``."""
    files = [sink for sink in sinks if isinstance(sink, FileSink)]
    if not files:
        return None
    held = [sink.kind for sink in sinks if isinstance(sink, LoggerSink)]
    return (
        f"no logger on the Trainer takes images ({held or 'no logger'}); writing PNG images "
        f"and scalars.jsonl under {files[0].root} too."
    )
