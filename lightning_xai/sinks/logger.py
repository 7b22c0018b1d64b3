"""Sink for Lightning loggers that take images (``log_image``, e.g. Weights & Biases)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from lightning_xai.render.png import to_uint8

__all__ = ["LoggerSink"]


class LoggerSink:
    """Writes images with ``logger.log_image(key, images, step)`` and scalars with
    ``logger.log_metrics``; histograms and text are left to TensorBoard or the file sink.

    Lightning's loggers are not thread-safe, so the monitors write to this sink inline, on the
    training thread (no background writer when one is present).

    Args:
        logger: a Lightning logger with a ``log_image`` method (``WandbLogger`` has one).
    """

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def add_image(self, tag: str, image: Tensor, step: int) -> None:
        pixels = to_uint8(image).permute(1, 2, 0).numpy()
        self.logger.log_image(key=tag, images=[pixels], step=step)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.logger.log_metrics({tag: float(value)}, step=step)

    def add_histogram(self, tag: str, values: Tensor, step: int) -> None:
        """Not supported by the generic logger API."""

    def add_text(self, tag: str, text: str, step: int) -> None:
        """Not supported by the generic logger API."""

    def flush(self) -> None:
        save = getattr(self.logger, "save", None)
        if callable(save):
            save()
