"""Timing helpers for the benchmarks: interleaved repeats, medians, ratios."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["compare", "machine"]


def compare(
    candidates: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per candidate, run interleaved (a, b, c, a, b, c, ...) in one process
    so that machine noise hits all of them alike."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def machine() -> str:
    """One line: CPU count, torch version and device."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    threads = torch.get_num_threads()
    return f"{platform.machine()}, {threads} torch threads, torch {torch.__version__}, {device}"
