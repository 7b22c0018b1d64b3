"""Intra-op threads of attribution passes, chosen from what the passes take in this run."""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ThreadTuner"]

_TUNERS: weakref.WeakKeyDictionary[nn.Module, ThreadTuner] = weakref.WeakKeyDictionary()


class ThreadTuner:
    """Runs a model's attribution passes at the thread count that is fastest now.

    On an idle CPU all of torch's intra-op threads are fastest; when other processes keep the
    cores busy, every parallel region waits for descheduled threads and one thread can be
    several times faster (bench/README.md, "Speed under load"). Inside :meth:`pinned` each
    forward pass of the model is timed (a forward pre-hook: the time between two passes is
    one pass with its backward). When a trial is due, the second pass of a call runs at the
    other count (1 or the caller's), the third at the current one, and the other count is
    kept if it was 10% faster per row, for the rest of the call and the calls after. A trial
    is due on the first call per ``key``, every ``every`` calls, after a call whose
    passes ran ``change`` times slower per row than the last on all threads, or ``change``
    times faster on one (the machine's load changed), and after a trial that chose one
    thread by less than 2x (a load that may be passing: a busy core makes all threads 2-9x
    slower per row, bench/README.md; on one thread the end of such a load would not show,
    and a stale choice of one thread is up to 2x slower on an idle machine). A trial whose
    other count was 2x slower or more doubles the calls to the key's next one (up to 8 x
    ``every``); after such a loss of all threads, no change of load is acted on in between
    either: under a heavy, fluctuating load each trial pass on all threads cost up to 8
    passes on one, and one thread's times then vary by more than ``change``.
    A key whose last call had fewer than four passes (e.g. GradientShap's two) makes no
    trial: the trial pass would decide nothing and could be the slow setting under load;
    it uses the choice its model's other methods made. The caller's thread count is
    restored on exit, also after an error; other threads (the training's, a writer's) are
    not touched: ``torch.set_num_threads`` acts on the calling thread's pool.

    Args:
        every: calls between trials when nothing changed.
        change: ratio of per-row times that makes the next call try again.

    Example:
        >>> net = nn.Linear(4, 2)
        >>> tuner = ThreadTuner.of(net)
        >>> before = torch.get_num_threads()
        >>> with tuner.pinned(net, key="ig"):
        ...     _ = [net(torch.randn(8, 4)) for _ in range(5)]
        >>> torch.get_num_threads() == before
        True
    """

    def __init__(self, every: int = 8, change: float = 1.3) -> None:
        self.every = every
        self.change = change
        self.choice: int | None = None
        self.trials = 0
        self._calls: dict[Hashable, int] = {}
        self._per_row: dict[Hashable, float] = {}
        self._due: set[Hashable] = set()
        self._passes: dict[Hashable, int] = {}
        self._next: dict[Hashable, int] = {}  # the call of a key's next periodic trial
        self._gap: dict[Hashable, int] = {}  # calls between them, doubled after clear losses
        self._hold: dict[Hashable, int] = {}  # no trial of the key before this call

    @classmethod
    def of(cls, model: nn.Module) -> ThreadTuner:
        """The tuner shared by every method bound to ``model``."""
        if model not in _TUNERS:
            _TUNERS[model] = cls()
        return _TUNERS[model]

    @contextmanager
    def pinned(self, model: nn.Module, key: Hashable) -> Iterator[None]:
        """Within: ``model``'s passes at the chosen thread count (CPU only); restored after."""
        before = torch.get_num_threads()
        param = next(model.parameters(), None)
        if before <= 1 or (param is not None and param.device.type != "cpu"):
            yield
            return
        current = self.choice or before
        other = 1 if current != 1 else before
        calls = self._calls.get(key, 0)
        self._calls[key] = calls + 1
        trial = calls >= self._next.get(key, 0) or key in self._due
        trial = trial and calls >= self._hold.get(key, 0)
        trial = trial and self._passes.get(key, 4) >= 4  # too few passes to decide anything
        marks: list[tuple[float, int]] = []

        def tick(_m: nn.Module, args: Any) -> None:
            marks.append((time.perf_counter(), _rows(args)))
            passes = len(marks)
            if trial and passes == 2:  # the second pass tries the other count
                _set_threads(other)
            elif trial and passes == 3:
                _set_threads(current)
            elif trial and passes == 4:
                mine, theirs = _per_row(marks, 2), _per_row(marks, 1)
                if theirs < mine * 0.9:  # a clear gain only: no flapping on noise
                    self.choice = other
                    _set_threads(other)
                self.trials += 1
                self._due.discard(key)
                self._after_trial(key, calls, mine, theirs, other)

        handle = model.register_forward_pre_hook(tick)
        _set_threads(current)
        try:
            yield
        finally:
            handle.remove()
            _set_threads(before)
        self._passes[key] = len(marks)
        self._remember(key, marks, trial, self.choice or before)

    def _after_trial(
        self, key: Hashable, calls: int, mine: float, theirs: float, other: int
    ) -> None:
        """Schedules the key's next trial from this one's per-row times: ``every`` calls on,
        the next call when one thread won by less than 2x (a passing load?), and when the
        other count lost by 2x or more, twice the last gap (at most 8 x ``every``); when that
        count was all threads (a busy machine), no change of load is acted on in between."""
        gap = self.every
        if theirs >= 2 * mine:
            gap = min(2 * self._gap.get(key, self.every // 2), 8 * self.every)
            if other != 1:
                self._hold[key] = calls + gap
        one, many = (theirs, mine) if other == 1 else (mine, theirs)
        if self.choice == 1 and many < 2 * one:
            self._due.add(key)
        self._gap[key] = gap
        self._next[key] = calls + gap

    def _remember(
        self, key: Hashable, marks: list[tuple[float, int]], trial: bool, threads: int
    ) -> None:
        """Per-row time of this call's steady passes (not the first, not a trial's). The next
        call tries again when the passes got ``change`` times slower on all threads (the
        machine got busy) or ``change`` times faster on one (it got quiet); a trial the other
        way would cost most when it is least likely to win."""
        marks = [*marks, (time.perf_counter(), 0)]
        steady = range(4 if trial else 1, len(marks) - 1)
        if not steady:
            return
        now = statistics.median(_per_row(marks, i) for i in steady)
        last = self._per_row.get(key)
        self._per_row[key] = now
        if last is None:
            return
        if (threads > 1 and now > last * self.change) or (
            threads == 1 and now < last / self.change
        ):
            self._due.add(key)


def _set_threads(count: int) -> None:
    """``torch.set_num_threads(count)`` unless that is already the count."""
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


def _rows(args: Any) -> int:
    first = next((a for a in args if isinstance(a, Tensor)), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


def _per_row(marks: list[tuple[float, int]], i: int) -> float:
    """Seconds per row of pass ``i`` (its start to the next pass's start)."""
    return (marks[i + 1][0] - marks[i][0]) / max(1, marks[i][1])
