"""TensorBoard sink over a ``SummaryWriter`` (a ``TensorBoardLogger``'s ``experiment``)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from tensorboard.compat.proto.summary_pb2 import Summary
from torch import Tensor

from lightning_xai.render.png import encode_png

__all__ = ["TensorBoardSink"]

# Every chart written to each writer so far: TensorBoard keeps one Custom Scalars layout per
# run (the last written), so each sink writes the union of its charts and those before it.
_CHARTS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
_CHARTS_LOCK = threading.Lock()


def summary_writer_of(writer: Any) -> Callable[[Summary, int], None] | None:
    """``add_summary(summary, step)`` of the event file behind ``writer``, or ``None``.

    The one place that reaches into torch's ``SummaryWriter``: its file writer is returned by
    ``_get_file_writer()``, which is not public. Writing a PNG we encode ourselves through it
    took 10-20 % less time than ``SummaryWriter.add_image`` (PIL) under load
    (``bench/README.md``, "TensorBoard images"). Where the method is missing (another writer
    class, a future torch), the caller falls back to ``add_image`` (tested).
    """
    get = getattr(writer, "_get_file_writer", None)
    file_writer = get() if callable(get) else None
    add = getattr(file_writer, "add_summary", None)
    return add if callable(add) else None


class TensorBoardSink:
    """Writes to a ``torch.utils.tensorboard.SummaryWriter``.

    Args:
        writer: the writer, e.g. ``TensorBoardLogger(...).experiment``.
        charts: Custom Scalars layout, chart title -> regex of scalar tags drawn in one
            chart (e.g. every method's infidelity); written under "lightning-xai" together
            with the charts of every other sink on the same writer (one layout per run).
        owns_writer: close the writer in :meth:`close` (a writer the sink was given for one
            stage, not a logger's).

    Example:
        >>> from torch.utils.tensorboard import SummaryWriter
        >>> import tempfile, torch
        >>> sink = TensorBoardSink(SummaryWriter(tempfile.mkdtemp()))
        >>> sink.add_scalar("xai/x", 1.0, step=0); sink.flush()
    """

    def __init__(
        self, writer: Any, charts: Mapping[str, str] | None = None, owns_writer: bool = False
    ) -> None:
        self.writer = writer
        self.owns_writer = owns_writer
        if charts:
            with _CHARTS_LOCK:
                try:
                    union = _CHARTS.setdefault(writer, {})
                except TypeError:  # a writer that takes no weak reference: this sink's only
                    union = {}
                union.update(charts)
                layout = {title: ["Multiline", [regex]] for title, regex in union.items()}
                writer.add_custom_scalars({"lightning-xai": layout})

    def add_image(self, tag: str, image: Tensor, step: int) -> None:
        # Encoded here (rounded, not truncated to uint8; "Up"-filtered PNG, zlib level 1).
        add_summary = summary_writer_of(self.writer)
        if add_summary is None:
            pixels = image
            if image.is_floating_point():
                pixels = (image.clamp(0, 1) * 255).round().byte()
            self.writer.add_image(tag, pixels, global_step=step, dataformats="CHW")
            return
        channels, height, width = image.shape
        picture = Summary.Image(
            height=height, width=width, colorspace=channels, encoded_image_string=encode_png(image)
        )
        add_summary(Summary(value=[Summary.Value(tag=tag, image=picture)]), step)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, float(value), global_step=step)

    def add_histogram(self, tag: str, values: Tensor, step: int) -> None:
        self.writer.add_histogram(tag, values.detach().float().flatten(), global_step=step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, global_step=step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        """Flushes; closes the writer when the sink owns it."""
        if self.owns_writer:
            self.writer.close()
        else:
            self.writer.flush()
