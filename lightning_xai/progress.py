"""What a user sees while a monitor runs: a bar under Lightning's and a summary line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any

from torch import nn

__all__ = ["RunProgress"]

log = logging.getLogger("lightning_xai")


class RunProgress:
    """Progress of one monitor run.

    Once a run has taken ``delay`` seconds, a bar shows the unit being worked on (e.g. the
    method being explained), how many are done and the time so far, refreshed at most twice
    a second from the model's forward passes (so a long Captum call shows it is alive). It
    joins Lightning's own bar: a task of ``RichProgressBar``'s display, or a tqdm bar one
    line below ``TQDMProgressBar``'s (same stream, ``leave=False``); it goes away with the
    run. Nothing is shown when the Trainer's progress bar is off (or of another kind).
    :meth:`close` logs one line at INFO level to the ``lightning_xai`` logger: the units,
    the seconds, the failures.

    Args:
        name: the monitor's name, shown first.
        trainer: the Trainer whose progress bar the bar sits under.
        delay: seconds before the bar appears.

    Example:
        >>> import pytorch_lightning as pl
        >>> progress = RunProgress("AttributionMonitor", pl.Trainer(logger=False))
        >>> progress.step("saliency", total=2)
        >>> progress.close(step=0, failures=0)
        >>> progress.labels
        ['saliency']
    """

    def __init__(self, name: str, trainer: Any, delay: float = 2.0) -> None:
        self.name = name
        self.delay = delay
        bar = getattr(trainer, "progress_bar_callback", None)
        kinds = {cls.__name__ for cls in type(bar).__mro__}
        enabled = bar is not None and bool(bar.is_enabled)
        self._lightning_bar: Any = bar
        self._kind = next((k for k in ("TQDMProgressBar", "RichProgressBar") if k in kinds), "")
        self._show = enabled and bool(self._kind)
        self.labels: list[str] = []
        self._total = 1
        self._start = perf_counter()
        self._last = 0.0
        self._bar: Any = None  # the tqdm bar or the Rich task id

    def step(self, label: str, total: int) -> None:
        """Starts unit ``label`` of ``total`` (the units before it are done)."""
        self.labels.append(label)
        self._total = max(total, len(self.labels))
        self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        """Redraws the bar when it is due (after ``delay``; at most twice a second)."""
        now = perf_counter()
        if not self._show or now - self._start < self.delay:
            return
        if not force and now - self._last < 0.5:
            return
        self._last = now
        done = max(len(self.labels) - 1, 0)
        label = f"{self.name}: {self.labels[-1] if self.labels else 'running'}"
        if self._kind == "RichProgressBar":
            self._draw_rich(label, done)
        else:
            self._draw_tqdm(label, done)

    def _draw_tqdm(self, label: str, done: int) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            # Lightning's validation bar sits at 2 * process_position + 1 (0: the main bar).
            position = 2 * int(getattr(self._lightning_bar, "process_position", 0)) + 2
            self._bar = tqdm(
                total=self._total,
                position=position,
                leave=False,
                file=sys.stdout,
                dynamic_ncols=True,
                bar_format="{desc} {n_fmt}/{total_fmt} [{elapsed}]",
            )
            self._bar.start_t = self._start
        self._bar.total = self._total
        self._bar.n = done
        self._bar.set_description_str(label, refresh=False)
        self._bar.refresh()

    def _draw_rich(self, label: str, done: int) -> None:
        progress = getattr(self._lightning_bar, "progress", None)
        if progress is None:
            return
        if self._bar is None:
            self._bar = progress.add_task(label, total=self._total)
        progress.update(self._bar, description=label, completed=done, total=self._total)
        # Rendered now: Lightning's own refresh() is a soft one outside notebooks (a flag its
        # refresh thread reads 1/refresh_rate s later), and a short unit (a fast method)
        # was over, its task gone, before the thread drew it.
        progress.refresh()

    @contextmanager
    def watch(self, module: nn.Module) -> Iterator[None]:
        """Ticks after every forward pass of ``module``'s children while inside."""
        handles = [m.register_forward_hook(self._hook) for m in (module, *module.children())]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def close(self, step: int, failures: int) -> None:
        """Removes the bar and logs the summary line."""
        if self._bar is not None and self._kind == "RichProgressBar":
            progress = getattr(self._lightning_bar, "progress", None)
            if progress is not None:
                progress.remove_task(self._bar)
                progress.refresh()
        elif self._bar is not None:
            self._bar.close()
        self._bar = None
        seconds = perf_counter() - self._start
        units = ", ".join(self.labels) or "one pass"
        log.info(
            "%s at step %d: %s in %.2f s, %d failure(s)", self.name, step, units, seconds, failures
        )

    def _hook(self, *args: Any) -> None:
        self.tick()
