"""Intra-op threads of attribution calls, chosen from what the calls take in this run."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

__all__ = ["ThreadTuner"]

_TUNERS: weakref.WeakKeyDictionary[nn.Module, ThreadTuner] = weakref.WeakKeyDictionary()
_ONE_THREAD = threading.local()  # ``busy`` on the one-thread worker while it runs a call
_WORKER: ThreadPoolExecutor | None = None
_WORKER_LOCK = threading.Lock()
T = TypeVar("T")


class ThreadTuner:
    """Runs a model's attribution calls on all of the caller's threads or on one, whichever
    is faster now, without ever changing the caller's thread settings.

    On an idle CPU all of torch's intra-op threads are fastest; when other processes keep the
    cores busy, every parallel region waits for descheduled threads and one thread can be
    several times faster (bench/README.md, "Speed under load"). A call on all threads runs
    on the caller's thread as it is; a call on one thread runs on a worker thread of ours set
    to one intra-op thread (torch then makes no OpenMP region at all) while the caller waits.
    The caller's own count is never set: ``torch.set_num_threads`` on the training thread,
    even set back, or a second OpenMP team in the process (a worker on several threads) made
    every later training step 25-60 % slower here, for the rest of the process: the training
    team's idle threads stopped spinning (bench/README.md, "Overhead on a realistic fit").

    Each call's seconds per row are measured (wall time over the rows of its forward passes,
    counted with a forward pre-hook), per key (a method and its input shape: rows of other
    sizes cost other times). A key starts at the setting the model's last trial chose. A
    trial runs one whole call at the other setting and keeps it for the key if it was 10%
    faster per row than the key's last call at the current one. A trial is due at a key's
    second call, then ``every`` calls later; a trial that loses doubles that gap (up to
    8 x ``every``). A trial is also due after a call that ran
    ``change`` times slower per row than the last on all threads, or ``change`` times faster
    on one (the load changed), and after a trial that chose one thread by less than 2x (a
    load that may be passing). After all threads lost a trial by 2x or more (a busy machine),
    no change of load starts one before the next periodic trial.

    Args:
        every: calls between trials when nothing changed.
        change: ratio of per-row times that makes the next call try again.

    Example:
        >>> net = nn.Linear(4, 2)
        >>> tuner = ThreadTuner.of(net)
        >>> before = torch.get_num_threads()
        >>> out = [tuner.run(net, "ig", lambda: net(torch.randn(8, 4))) for _ in range(3)]
        >>> torch.get_num_threads() == before
        True
    """

    def __init__(self, every: int = 8, change: float = 1.3) -> None:
        self.every = every
        self.change = change
        self.choice: int | None = None  # the last trial's winner: 1, or None (all threads)
        self.trials = 0
        self._calls: dict[Hashable, int] = {}
        self._per_row: dict[tuple[Hashable, bool], float] = {}  # (key, on one thread)
        self._due: set[Hashable] = set()
        self._next: dict[Hashable, int] = {}  # the call of a key's next periodic trial
        self._gap: dict[Hashable, int] = {}  # calls between them, doubled after losses
        self._hold: dict[Hashable, int] = {}  # no trial of the key before this call
        self._one: dict[Hashable, bool] = {}  # each key's setting: on one thread or not

    @classmethod
    def of(cls, model: nn.Module) -> ThreadTuner:
        """The tuner shared by every method bound to ``model``."""
        if model not in _TUNERS:
            _TUNERS[model] = cls()
        return _TUNERS[model]

    def run(self, model: nn.Module, key: Hashable, work: Callable[[], T]) -> T:
        """``work()`` (one method's call on ``model``) on all of the caller's threads or on
        one, timed; inline on an accelerator, with one thread, or when already on one."""
        param = next(model.parameters(), None)
        if (
            torch.get_num_threads() <= 1
            or getattr(_ONE_THREAD, "busy", False)
            or (param is not None and param.device.type != "cpu")
        ):
            return work()
        calls = self._calls.get(key, 0)
        self._calls[key] = calls + 1
        current = self._one.setdefault(key, self.choice == 1)  # at first: the model's last
        trial = calls >= self._next.get(key, 1) or (calls > 0 and key in self._due)
        trial = trial and calls >= self._hold.get(key, 0)
        one = current != trial  # a trial runs at the other setting
        rows: list[int] = []
        handle = model.register_forward_pre_hook(lambda _m, args: rows.append(_rows(args)))
        start = time.perf_counter()
        try:
            result = _on_one_thread(work) if one else work()
        finally:
            handle.remove()
        per_row = (time.perf_counter() - start) / max(1, sum(rows))
        if trial:
            self._after_trial(key, calls, per_row, one)
        else:
            self._remember(key, per_row, one)
        return result

    def _after_trial(self, key: Hashable, calls: int, theirs: float, one: bool) -> None:
        """Keeps the trial's setting if it was 10% faster per row than the key's last call
        at the current one, and schedules the next trial: ``every`` calls on after a win,
        twice the last gap after a loss (at most 8 x ``every``), the next call after one
        thread won by less than 2x; after all threads lost by 2x or more, no change of load
        starts one in between."""
        self.trials += 1
        self._due.discard(key)
        mine = self._per_row.get((key, not one), theirs)
        won = theirs < mine * 0.9
        if won:
            self._one[key] = one
            self.choice = 1 if one else None
        gap = self.every if won else min(2 * self._gap.get(key, self.every // 2), 8 * self.every)
        if not won and not one and theirs >= 2 * mine:
            self._hold[key] = calls + gap
        single, many = (theirs, mine) if one else (mine, theirs)
        if self._one[key] and many < 2 * single:
            self._due.add(key)
        self._gap[key] = gap
        self._next[key] = calls + gap
        self._per_row[(key, one)] = theirs

    def _remember(self, key: Hashable, now: float, one: bool) -> None:
        """Keeps this call's per-row time; the next call tries again when it was ``change``
        times slower than the last on all threads (the machine got busy) or ``change`` times
        faster on one (it got quiet); a trial the other way would cost most when it is least
        likely to win."""
        last = self._per_row.get((key, one))
        self._per_row[(key, one)] = now
        if last is not None and (
            (not one and now > last * self.change) or (one and now < last / self.change)
        ):
            self._due.add(key)


def _on_one_thread(work: Callable[[], T]) -> T:
    """``work()`` on the one-thread worker, with the caller's grad mode; the caller waits."""
    grad = torch.is_grad_enabled()

    def job() -> T:
        _ONE_THREAD.busy = True
        try:
            if torch.get_num_threads() != 1:
                torch.set_num_threads(1)  # this thread's count only
            with torch.set_grad_enabled(grad):
                return work()
        finally:
            _ONE_THREAD.busy = False

    return _worker().submit(job).result()


def _worker() -> ThreadPoolExecutor:
    """The one thread that runs one-thread calls (started on first use)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = ThreadPoolExecutor(1, thread_name_prefix="lightning_xai-one-thread")
        return _WORKER


def _rows(args: Any) -> int:
    first = next((a for a in args if isinstance(a, Tensor)), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1
