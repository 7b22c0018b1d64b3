"""Sink for any Lightning logger, through the logger's own public API."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from torch import Tensor

from lightning_xai.render.png import to_uint8

__all__ = ["LoggerSink"]

Write = Callable[[Any, str, Any, int], None]


def logger_kind(logger: Any) -> str:
    """The class name of ``logger`` or of its nearest Lightning logger base (either package)."""
    known = ("TensorBoardLogger", "CSVLogger", "WandbLogger", "MLFlowLogger", "CometLogger")
    names = [cls.__name__ for cls in type(logger).__mro__]
    return next((n for n in names if n in (*known, "NeptuneLogger")), names[0])


def _log_image(logger: Any, tag: str, pixels: Any, step: int) -> None:
    logger.log_image(key=tag, images=[pixels], step=step)


def _wandb_histogram(logger: Any, tag: str, values: Any, step: int) -> None:
    import wandb

    logger.experiment.log({tag: wandb.Histogram(values), "trainer/global_step": step})


def _wandb_text(logger: Any, tag: str, text: Any, step: int) -> None:
    logger.log_text(key=tag, columns=["step", "text"], data=[[step, text]], step=step)


def _mlflow_image(logger: Any, tag: str, pixels: Any, step: int) -> None:
    client = logger.experiment
    if "step" in inspect.signature(client.log_image).parameters:  # MLflow >= 2.12
        client.log_image(logger.run_id, pixels, key=tag, step=step)
    else:
        client.log_image(logger.run_id, pixels, artifact_file=f"{tag}/step_{step:06d}.png")


def _mlflow_text(logger: Any, tag: str, text: Any, step: int) -> None:
    logger.experiment.log_text(logger.run_id, text, f"{tag}/step_{step:06d}.txt")


def _comet_image(logger: Any, tag: str, pixels: Any, step: int) -> None:
    logger.experiment.log_image(pixels, name=tag, step=step)


def _comet_histogram(logger: Any, tag: str, values: Any, step: int) -> None:
    logger.experiment.log_histogram_3d(values, name=tag, step=step)


def _comet_text(logger: Any, tag: str, text: Any, step: int) -> None:
    logger.experiment.log_text(text, step=step, metadata={"tag": tag})


def _neptune_image(logger: Any, tag: str, pixels: Any, step: int) -> None:
    from neptune.types import File

    logger.run[tag].append(File.as_image(pixels / 255.0), step=step)


def _neptune_text(logger: Any, tag: str, text: Any, step: int) -> None:
    logger.run[tag].append(text, step=step)


# What each logger holds beyond scalars (``log_metrics``, every logger), by its class name.
_WRITERS: dict[str, dict[str, Write]] = {
    "WandbLogger": {"image": _log_image, "histogram": _wandb_histogram, "text": _wandb_text},
    "MLFlowLogger": {"image": _mlflow_image, "text": _mlflow_text},
    "CometLogger": {"image": _comet_image, "histogram": _comet_histogram, "text": _comet_text},
    "NeptuneLogger": {"image": _neptune_image, "text": _neptune_text},
}


class LoggerSink:
    """Writes to a Lightning logger through its own public API.

    Scalars go through ``log_metrics`` (every logger: CSV, MLflow, W&B, Neptune, Comet...);
    images, histograms and text through the logger's own API where it has one: W&B
    (``log_image``, ``wandb.Histogram``, ``log_text``), MLflow (``log_image`` with ``key`` and
    ``step``, else an artifact ``<tag>/step_<step>.png``; text as artifacts), Comet
    (``log_image``, ``log_histogram_3d``, ``log_text``) and Neptune (``File.as_image``, text
    series); any other logger with ``log_image(key, images, step)`` gets images through it.
    The Comet and Neptune writers follow those packages' documented APIs and are not
    exercised by the test suite. What a logger cannot hold is dropped here.

    Lightning's loggers are not thread-safe: calls made on another thread than the one that
    built the sink (the background writer's) are queued and made by :meth:`flush`, which the
    monitors call on the training thread (before each run and at the end of each stage).

    Args:
        logger: a Lightning logger of either package.
        prefix: put before every tag (``"test/"`` for a ``trainer.test()`` run).

    Example:
        >>> import tempfile, torch
        >>> from pytorch_lightning.loggers import CSVLogger
        >>> sink = LoggerSink(CSVLogger(tempfile.mkdtemp()))
        >>> sink.add_scalar("xai/x", 1.0, step=0); sink.flush()
        >>> sink.holds_images
        False
    """

    def __init__(self, logger: Any, prefix: str = "") -> None:
        self.logger = logger
        self.prefix = prefix
        self.kind = logger_kind(logger)
        # A logger of another kind with Lightning's ``log_image(key, images, step)`` gets images.
        generic = {"image": _log_image} if callable(getattr(logger, "log_image", None)) else {}
        self._writers = _WRITERS.get(self.kind) or generic
        self._owner = threading.current_thread()
        self._pending: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def holds_images(self) -> bool:
        """Whether this logger takes images."""
        return "image" in self._writers

    def add_image(self, tag: str, image: Tensor, step: int) -> None:
        self._write("image", tag, to_uint8(image).permute(1, 2, 0).numpy(), step)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        key = self.prefix + tag
        self._call(lambda: self.logger.log_metrics({key: float(value)}, step=step))

    def add_histogram(self, tag: str, values: Tensor, step: int) -> None:
        self._write("histogram", tag, values.detach().float().flatten().numpy(), step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        self._write("text", tag, text, step)

    def flush(self) -> None:
        """Makes the queued calls (on the calling thread), then saves the logger."""
        with self._lock:
            pending, self._pending = self._pending, []
        errors = []
        for call in pending:
            try:
                call()
            except Exception as err:  # the other calls still happen
                errors.append(err)
        if errors:
            raise errors[0]
        save = getattr(self.logger, "save", None)
        if callable(save):
            save()

    def _write(self, what: str, tag: str, value: Any, step: int) -> None:
        write = self._writers.get(what)
        if write is not None:
            key = self.prefix + tag
            self._call(lambda: write(self.logger, key, value, step))

    def _call(self, call: Callable[[], None]) -> None:
        if threading.current_thread() is self._owner:
            call()
            return
        with self._lock:
            self._pending.append(call)
