"""A background writer: rendering, encoding and writing off the training thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from lightning_xai.sinks.base import Sink

__all__ = ["BackgroundWriter"]

Job = Callable[[], None]
_STOP = object()


class BackgroundWriter:
    """Fans writes out to several sinks, on one worker thread.

    It is itself a :class:`~lightning_xai.sinks.Sink`: ``add_*`` calls queue the write and
    return at once; :meth:`submit` queues any job (e.g. rendering). Jobs run in order. The
    queue is bounded, so a slow disk slows the producer instead of filling memory. Failures
    are collected and handed back by :meth:`flush`, never raised in the training thread.

    Args:
        sinks: where writes go.
        background: ``False`` runs every job inline (same results, no thread).
        max_pending: jobs queued before :meth:`submit` waits.

    Example:
        >>> import tempfile, torch
        >>> from lightning_xai.sinks import FileSink
        >>> writer = BackgroundWriter([FileSink(tempfile.mkdtemp())])
        >>> writer.add_scalar("xai/x", 1.0, step=0)
        >>> writer.flush()
        []
    """

    def __init__(self, sinks: Sequence[Sink], background: bool = True, max_pending: int = 256):
        self.sinks = list(sinks)
        self.background = background
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._errors: list[BaseException] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- the Sink protocol, fanned out -----------------------------------------------------
    def add_image(self, tag: str, image: Tensor, step: int) -> None:
        self.submit(lambda: self._each(lambda s: s.add_image(tag, image, step)))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.submit(lambda: self._each(lambda s: s.add_scalar(tag, value, step)))

    def add_histogram(self, tag: str, values: Tensor, step: int) -> None:
        self.submit(lambda: self._each(lambda s: s.add_histogram(tag, values, step)))

    def add_text(self, tag: str, text: str, step: int) -> None:
        self.submit(lambda: self._each(lambda s: s.add_text(tag, text, step)))

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queues ``job``; runs it now when not in the background or when called from a job
        (a job that writes must not wait for a queue only its own thread empties)."""
        if not self.background or threading.current_thread() is self._thread:
            self._execute(job)
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                torch.get_num_threads()  # fixes the caller's own count before ours changes
                self._thread = threading.Thread(
                    target=self._work, name="lightning-xai-writer", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def flush(self) -> list[BaseException]:
        """Waits for every queued job, flushes the sinks, and returns (and forgets) the
        failures since the last flush."""
        if self._thread is not None:
            self._queue.join()
        self._execute(lambda: self._each(lambda s: s.flush()))
        errors, self._errors = self._errors, []
        return errors

    def close(self) -> list[BaseException]:
        """Flushes, stops the worker thread and closes the sinks that can be closed."""
        errors = self.flush()
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._execute(lambda: self._each(lambda s: getattr(s, "close", lambda: None)()))
        errors, self._errors = errors + self._errors, []
        return errors

    def _work(self) -> None:
        # One intra-op thread here: an OpenMP team of this thread's own would spin on the
        # cores the training uses, and slowed every later training step by about half
        # (measured in bench/README.md, "Overhead on a realistic fit"). Under OpenMP the
        # count is per thread for threads that already use it (``submit`` makes sure the
        # caller's is set before this thread starts); threads started later default to it.
        torch.set_num_threads(1)
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                self._execute(job)  # type: ignore[arg-type]
            finally:
                self._queue.task_done()

    def _execute(self, job: Job) -> None:
        try:
            job()
        except Exception as err:  # handed back by flush()
            self._errors.append(err)

    def _each(self, write: Callable[[Sink], object]) -> None:
        """``write`` on every sink; a failing sink does not stop the others."""
        failures = []
        for sink in self.sinks:
            try:
                write(sink)
            except Exception as err:
                failures.append(err)
        self._errors.extend(failures[1:])
        if failures:
            raise failures[0]
