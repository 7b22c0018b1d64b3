"""File sink: PNG images and a JSON-lines file of numbers, for runs without TensorBoard."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from torch import Tensor

from lightning_xai.render.png import encode_png

__all__ = ["FileSink"]


class FileSink:
    """Writes ``<root>/images/<tag>/step_<step>.png`` and ``<root>/scalars.jsonl``.

    Each JSON line is ``{"tag", "step", "wall_time", "value" | "values" | "text"}``.

    Args:
        root: directory to write under (created on first write).

    Example:
        >>> import tempfile, torch
        >>> sink = FileSink(tempfile.mkdtemp())
        >>> sink.add_image("xai/a/sample_00", torch.rand(3, 4, 4), step=3)
        >>> sorted(p.name for p in (sink.root / "images/xai/a/sample_00").iterdir())
        ['step_000003.png']
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def add_image(self, tag: str, image: Tensor, step: int) -> None:
        path = self.root / "images" / tag / f"step_{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_png(image.cpu()))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self._append({"tag": tag, "step": step, "value": float(value)})

    def add_histogram(self, tag: str, values: Tensor, step: int) -> None:
        self._append(
            {"tag": tag, "step": step, "values": values.detach().float().flatten().tolist()}
        )

    def add_text(self, tag: str, text: str, step: int) -> None:
        self._append({"tag": tag, "step": step, "text": text})

    def flush(self) -> None:
        """Every write is flushed as it happens."""

    def _append(self, record: dict[str, object]) -> None:
        record["wall_time"] = time.time()
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with (self.root / "scalars.jsonl").open("a") as handle:
                handle.write(json.dumps(record) + "\n")
