"""Timing helpers for the benchmarks: interleaved repeats, medians, ratios."""

from __future__ import annotations

import platform
import resource
import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["compare", "machine", "page_faults", "paired_ratio", "timed"]


def timed(
    candidates: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each repeat per candidate, run interleaved in one process so that machine
    noise hits all of them alike. Each round starts one candidate later (a, b, c; b, c, a;
    c, a, b; ...): what a candidate leaves behind (freed memory the allocator gave back,
    caches) slows the next one, by up to 20% here, and a fixed order would charge it to the
    same candidate every time."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            fn = candidates[name]
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            samples[name].append(time.perf_counter() - start)
    return samples


def compare(
    candidates: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per candidate of :func:`timed`."""
    samples = timed(candidates, repeats, warmup)
    return {name: statistics.median(times) for name, times in samples.items()}


def paired_ratio(samples: dict[str, list[float]], a: str, b: str) -> float:
    """Median over repeats of ``a / b``, each pair timed in the same round: a load that
    comes and goes between rounds cancels, unlike in the ratio of the two medians."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True))


def machine() -> str:
    """One line: CPU count, torch version and device."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    threads = torch.get_num_threads()
    return f"{platform.machine()}, {threads} torch threads, torch {torch.__version__}, {device}"


def page_faults(fn: Callable[[], object], calls: int = 2) -> float:
    """Minor page faults per call of ``fn`` in this process: memory that the allocator handed
    back to the OS and faults in again, zeroed (a large part of a CPU call's time with
    glibc's defaults: bench/README.md, "Fourth session")."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
