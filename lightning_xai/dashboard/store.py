"""Everything the monitors logged, per run, read from a log directory and kept up to date.

A run is a directory holding TensorBoard event files (or a file sink's ``scalars.jsonl``);
runs are never merged. Every ``xai/`` image and scalar is kept, whatever TensorBoard's
sampling flags say. Each file is read incrementally: a refresh reads only what was appended
since the last one, and skips files whose size and modification time are unchanged.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LogStore"]

_PREFIX = "xai/"


@dataclass
class RunLog:
    """One run's ``xai/`` data.

    Attributes:
        images: tag -> step -> PNG bytes (or the PNG's path, for a file sink).
        scalars: tag -> step -> value.
    """

    images: dict[str, dict[int, bytes | Path]] = field(default_factory=lambda: defaultdict(dict))
    scalars: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))

    def png(self, tag: str, step: int) -> bytes:
        """The PNG of ``tag`` at ``step`` (``KeyError`` if not logged)."""
        picture = self.images[tag][step]
        return picture.read_bytes() if isinstance(picture, Path) else picture


class _AppendedFile:
    """A file that only grows, read from where the last read stopped: :meth:`_parse` gets the
    new bytes and returns how many of them it took (a record being written waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: tuple[int, float] | None = None
        self._offset = 0

    def read(self, log: RunLog) -> None:
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += self._parse(data, log)

    def _parse(self, data: bytes, log: RunLog) -> int:
        raise NotImplementedError


class _EventFile(_AppendedFile):
    """An event file, record by record.

    TFRecord framing: ``length`` (uint64), its masked CRC-32C (uint32), the serialized
    ``Event``, its CRC (uint32). A record not yet complete is read on the next refresh. The
    data CRC is not checked (pure-Python CRC-32C, what TensorBoard falls back to without
    TensorFlow, reads about 0.5 MB/s here); a record that does not parse is skipped.
    """

    def _parse(self, data: bytes, log: RunLog) -> int:
        from google.protobuf.message import DecodeError
        from tensorboard.compat.proto.event_pb2 import Event

        at = 0
        while at + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, at)
            end = at + 12 + length + 4
            if end > len(data):
                break  # being written
            try:
                event = Event.FromString(data[at + 12 : end - 4])
            except DecodeError:
                event = Event()
            at = end
            self._add(event, log)
        return at

    @staticmethod
    def _add(event: Any, log: RunLog) -> None:
        """The ``xai/`` scalars and images of ``event``, as torch's ``SummaryWriter`` (and
        tensorboardX) write them."""
        for value in event.summary.value:
            if not value.tag.startswith(_PREFIX):
                continue
            which = value.WhichOneof("value")
            if which == "simple_value":
                log.scalars[value.tag][event.step] = float(value.simple_value)
            elif which == "image":
                log.images[value.tag][event.step] = value.image.encoded_image_string


class _SinkFiles(_AppendedFile):
    """A file sink's output: ``scalars.jsonl`` line by line, new PNGs listed."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "scalars.jsonl")

    def _parse(self, data: bytes, log: RunLog) -> int:
        complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
        for line in complete.decode().splitlines():
            record: dict[str, Any] = json.loads(line)
            if "value" in record and record["tag"].startswith(_PREFIX):
                log.scalars[record["tag"]][int(record["step"])] = float(record["value"])
        images = self.path.parent / "images"
        for png in images.rglob("step_*.png"):
            tag = png.parent.relative_to(images).as_posix()
            if tag.startswith(_PREFIX):
                log.images[tag][int(png.stem.split("_")[1])] = png
        return len(complete)


class LogStore:
    """The runs under ``root`` and their ``xai/`` data; thread-safe.

    Args:
        root: the log directory (TensorBoard's ``--logdir``).
        max_age: seconds a refresh is skipped for after the last one.

    Example:
        >>> store = LogStore("lightning_logs")
        >>> store.runs()  # e.g. ['version_0', 'version_1']
        []
    """

    def __init__(self, root: str | Path, max_age: float = 2.0) -> None:
        self.root = Path(root)
        self.max_age = max_age
        self._logs: dict[str, RunLog] = {}
        self._files: dict[Path, tuple[str, _AppendedFile]] = {}
        self._lock = threading.Lock()
        self._refreshed = -float("inf")

    def runs(self) -> list[str]:
        """Names of the runs with ``xai/`` data (paths relative to ``root``; ``.`` for
        ``root`` itself), sorted."""
        self.refresh()
        with self._lock:
            return sorted(name for name, log in self._logs.items() if log.images or log.scalars)

    def run(self, name: str) -> RunLog:
        """The data of run ``name`` (``KeyError`` for an unknown run)."""
        self.refresh()
        with self._lock:
            return self._logs[name]

    def refresh(self, force: bool = False) -> None:
        """Finds new runs and files, and reads what was appended to each file."""
        with self._lock:
            if not force and time.monotonic() - self._refreshed < self.max_age:
                return
            for directory, files in self._walk():
                name = directory.relative_to(self.root).as_posix()
                for file in files:
                    if file not in self._files:
                        new = _EventFile(file) if "tfevents" in file.name else None
                        self._files[file] = (name, new or _SinkFiles(directory))
            for _path, (name, reader) in sorted(self._files.items()):
                try:
                    stat = reader.path.stat()
                except OSError:
                    continue
                if reader.seen != (stat.st_size, stat.st_mtime):
                    reader.seen = (stat.st_size, stat.st_mtime)
                    reader.read(self._logs.setdefault(name, RunLog()))
            self._refreshed = time.monotonic()

    def _walk(self) -> list[tuple[Path, list[Path]]]:
        found = []
        for directory, _, names in os.walk(self.root):
            files = [Path(directory, n) for n in sorted(names) if "tfevents" in n]
            if "scalars.jsonl" in names:
                files.append(Path(directory, "scalars.jsonl"))
            if files:
                found.append((Path(directory), files))
        return found
