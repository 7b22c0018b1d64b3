"""Chunk sizes chosen by measurement: how many rows one forward(+backward) pass should take."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from lightning_xai.inputs import ModelInputs
from lightning_xai.methods.registry import MethodSpec
from lightning_xai.methods.windows import perturbation_count

_WORK_PER_SAMPLE = 64  # rows per probe sample assumed when calibrating a perturbation method

__all__ = [
    "NOISE_TUNNEL_ROWS",
    "ChunkTuner",
    "balanced_units",
    "chunk_keywords",
    "is_out_of_memory",
    "layer_survey",
    "rows_per_pass",
    "widest_layer_bytes",
    "with_oom_retry",
]

_MAX_ROWS = 1024
# Bytes of the widest layer output per pass: 8 MiB gives the seed ConvNet (28x28: 72 KiB per
# row) its measured best of ~128 rows and keeps large inputs in cache (bench/README.md,
# "Scaling"): rows per pass shrink as pixels grow, so the cost per row stays linear.
CHUNK_BYTES = 8 * 2**20
REFERENCE_INTENSITY = 23.0
"""FLOPs per byte of layer output of the seed ConvNet (23; SizeFreeNet 25): memory-bound
models, for which :data:`CHUNK_BYTES` was measured. Models that compute more per byte get
proportionally larger passes: ResNet-18 (121) ran 13% slower per row at its 32 rows by bytes
than at 128 (bench/README.md, issue 18)."""
NOISE_TUNNEL_ROWS = 128
"""Noisy rows per batch of NoiseTunnel (``nt_samples_batch_size`` x N) when the bytes of the
model's layers cannot be measured (bench/README.md)."""
_OOM_MESSAGES = ("out of memory", "CUDA error: out of memory")


class ChunkTuner:
    """Picks, once per input shape, the rows per pass that make the model fastest per row,
    and halves them after an out-of-memory error.

    The calibration times bare forward(+backward) passes of the model on ``r`` copies of the
    probe rows, for ``r`` doubling from the probe size up to the method's whole work (at most
    1,024 rows, and on a GPU what the free memory holds); its cost is a fraction of one
    attribution. The choice is cached for the rest of training.

    Args:
        backward: the method differentiates (gradient family) or only runs forwards
            (perturbation family).

    Example:
        >>> tuner = ChunkTuner(backward=True)
        >>> net = nn.Linear(4, 2)
        >>> rows = tuner.rows(net, torch.randn(8, 4), work_rows=400)
        >>> rows in (8, 16, 32, 64, 128, 256, 400)
        True
    """

    def __init__(self, backward: bool = True) -> None:
        self.backward = backward
        self.choices: dict[tuple[int, ...], int] = {}

    def rows(self, model: nn.Module, inputs: Tensor, work_rows: int) -> int:
        """Rows per pass for ``inputs [N, ...]`` when the method runs ``work_rows`` rows."""
        key = tuple(inputs.shape)
        if key not in self.choices:
            self.choices[key] = self._calibrate(model, inputs, work_rows)
        return self.choices[key]

    def sized(self, model: nn.Module, inputs: Tensor, run: Callable[[nn.Module], Any]) -> int:
        """Rows per pass for ``inputs [N, ...]`` from the bytes of the model's widest layer
        output per row and the model's FLOPs per byte of layer output (:func:`layer_survey`,
        measured once per input shape): at most :data:`CHUNK_BYTES` of the widest layer per
        pass, times the FLOPs per byte over the seed ConvNet's when higher; at least one
        row, at most 1,024."""
        key = tuple(inputs.shape)
        if key not in self.choices:
            widest, intensity = layer_survey(model, run)
            budget = CHUNK_BYTES * max(1.0, intensity / REFERENCE_INTENSITY)
            self.choices[key] = max(1, min(_MAX_ROWS, int(budget // max(1, widest))))
        return self.choices[key]

    def shrink(self, inputs: Tensor) -> int:
        """Halves the cached choice after an out-of-memory error; returns the new rows."""
        key = tuple(inputs.shape)
        self.choices[key] = max(1, self.choices.get(key, inputs.shape[0]) // 2)
        return self.choices[key]

    def _calibrate(self, model: nn.Module, inputs: Tensor, work_rows: int) -> int:
        n = inputs.shape[0]
        ceiling = min(max(work_rows, n), _MAX_ROWS, _memory_rows(model, inputs))
        candidates = []
        rows = n
        while rows < ceiling:
            candidates.append(rows)
            rows *= 2
        candidates.append(ceiling)
        self._time(model, inputs, candidates[0])  # warm-up
        per_row = {r: self._time(model, inputs, r) / r for r in candidates}
        best = min(per_row.values())
        # The smallest chunk within 5% of the best: same speed, less memory.
        return next(r for r in candidates if per_row[r] <= best * 1.05)

    def _time(self, model: nn.Module, inputs: Tensor, rows: int) -> float:
        batch = inputs[torch.arange(rows, device=inputs.device) % inputs.shape[0]]
        _sync(inputs)
        start = time.perf_counter()
        if self.backward:
            batch.requires_grad_(True)
            out = model(batch)
            torch.autograd.grad(out.float().sum(), batch)
        else:
            with torch.no_grad():
                model(batch)
        _sync(inputs)
        return time.perf_counter() - start


def widest_layer_bytes(model: nn.Module, run: Callable[[nn.Module], Any]) -> int:
    """Bytes of the largest tensor a leaf module of ``model`` outputs during ``run(model)``
    (a forward of one row, without grad); 0 if none (e.g. a purely functional model)."""
    return layer_survey(model, run)[0]


def layer_survey(model: nn.Module, run: Callable[[nn.Module], Any]) -> tuple[int, float]:
    """``(widest, intensity)`` of ``run(model)`` (a forward of one row, without grad): bytes
    of the largest tensor a leaf module outputs (0 if none: a purely functional model) and
    the FLOPs per byte of all leaf outputs (convolutions and linear layers: 2 per
    multiply-add; any other module: one per output element).

    Example:
        >>> net = nn.Sequential(nn.Linear(64, 256), nn.ReLU())
        >>> layer_survey(net, lambda m: m(torch.randn(1, 64)))
        (1024, 16.125)
    """
    widest, flops, total = 0, 0, 0

    def watch(module: nn.Module, _args: Any, output: Any) -> None:
        nonlocal widest, flops, total
        first = output[0] if isinstance(output, tuple | list) and output else output
        if isinstance(first, Tensor):
            size = first.numel() * first.element_size()
            widest, total = max(widest, size), total + size
            flops += first.numel() * _flops_per_output(module)

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(watch) for m in leaves]
    try:
        with torch.no_grad():
            run(model)
    finally:
        for handle in handles:
            handle.remove()
    return widest, flops / max(1, total)


def _flops_per_output(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return 2 * module.in_features
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):  # weight [out, in/groups, *k]
        return 2 * module.weight[0].numel()
    return 1


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an out-of-memory failure (CUDA or CPU allocator)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(m in str(error) for m in _OOM_MESSAGES)


def with_oom_retry(run: Callable[[int], Tensor], rows: int, shrink: Callable[[], int]) -> Tensor:
    """``run(rows)``; on out-of-memory, frees the cache and retries with ``shrink()`` rows
    until one row fails too."""
    while True:
        try:
            return run(rows)
        except Exception as error:
            if not is_out_of_memory(error) or rows <= 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            rows = shrink()


def _memory_rows(model: nn.Module, inputs: Tensor) -> int:
    """Rows that fit in half the free GPU memory, from one probe pass's peak; no bound on CPU."""
    if inputs.device.type != "cuda":
        return _MAX_ROWS
    free, _ = torch.cuda.mem_get_info(inputs.device)
    torch.cuda.reset_peak_memory_stats(inputs.device)
    before = torch.cuda.memory_allocated(inputs.device)
    batch = inputs.clone().requires_grad_(True)
    torch.autograd.grad(model(batch).float().sum(), batch)
    per_row = max(1, (torch.cuda.max_memory_allocated(inputs.device) - before) // inputs.shape[0])
    return max(inputs.shape[0], int(free * 0.5 // per_row))


def _sync(tensor: Tensor) -> None:
    if tensor.device.type == "cuda":
        torch.cuda.synchronize(tensor.device)


def chunk_keywords(
    spec: MethodSpec,
    noise_tunnel: Mapping[str, Any],
    rows: int | None,
    batch: ModelInputs,
    kwargs: Mapping[str, Any],
) -> dict[str, int]:
    """The chunking keywords for ``rows`` rows per pass over the probe ``batch`` of N
    samples, where the call's ``kwargs`` set none."""
    if rows is None:
        return {}
    n = batch.size
    chunks: dict[str, int] = {}
    if noise_tunnel:
        chunks["nt_samples_batch_size"] = balanced_units(kwargs["nt_samples"], n, rows)
    if spec.default_chunk is None:  # e.g. LayerFeatureAblation: Captum's 1 only
        pass
    elif spec.chunk_arg == "internal_batch_size":
        # Captum's floor is the rows it is given (NoiseTunnel multiplies them); below it,
        # Captum warns at every call and uses the floor anyway. Balanced passes: of whole
        # steps for Captum's path methods, of any rows for our GradientShap.
        seen = n * kwargs.get("nt_samples_batch_size", chunks.get("nt_samples_batch_size", 1))
        name, default = spec.sample_rows or ("", None)
        units = kwargs.get(name, default)
        if isinstance(units, int) and name == "n_steps":
            rows = balanced_units(units, seen, rows) * seen
        elif isinstance(units, int):
            rows = balanced_units(units * seen, 1, rows)
        chunks["internal_batch_size"] = max(rows, seen)
    elif spec.chunk_arg == "perturbations_per_eval":
        if spec.per_input:
            chunks["perturbations_per_eval"] = rows
        elif perturbations := perturbation_count(kwargs, batch):  # windows, features
            chunks["perturbations_per_eval"] = balanced_units(perturbations, n, rows)
        else:
            chunks["perturbations_per_eval"] = max(1, rows // n)
    return {k: v for k, v in chunks.items() if k not in kwargs}


def balanced_units(units: int, unit_rows: int, rows: int) -> int:
    """Units (steps, noise samples) per pass for ``units`` of ``unit_rows`` rows each, in
    passes of about ``rows`` rows: ``round(total / rows)`` passes (at least one) of equal size
    but the last. ``ceil`` would add a short pass for a few rows over (e.g. 10 noise samples
    of 32 rows at 113 rows per pass: 3 + 3 + 3 + 1 samples instead of 4 + 4 + 2), and a
    short pass costs more per row.

    Example:
        >>> balanced_units(10, 32, 113), balanced_units(5, 32, 113), balanced_units(50, 32, 113)
        (4, 5, 4)
    """
    passes = max(1, round(units * unit_rows / max(1, rows)))
    return max(1, -(-units // passes))


def rows_per_pass(
    tuner: ChunkTuner | None,
    spec: MethodSpec,
    noise_tunnel: Mapping[str, Any],
    model: nn.Module | None,
    batch: ModelInputs,
    kwargs: Mapping[str, Any],
    calibrate: bool,
) -> int | None:
    """Rows per forward pass of one call: measured (once per input shape), or the default;
    ``None`` when the call sets every chunking knob that applies (or the method has none)."""
    knobs = [k for k in (spec.chunk_arg,) if k] + (
        ["nt_samples_batch_size"] if noise_tunnel else []
    )
    if all(k in kwargs for k in knobs):
        return None
    default = NOISE_TUNNEL_ROWS if noise_tunnel else spec.default_chunk
    if default is None or tuner is None:  # no knob, or Captum's own default is kept
        return None
    key = tuple(batch.first.shape)
    if key not in tuner.choices and model is not None:
        if calibrate and batch.plain:
            steps = kwargs.get("n_steps", kwargs.get("nt_samples", _WORK_PER_SAMPLE))
            return tuner.rows(model, batch.first, batch.size * steps)
        try:
            tuner.sized(model, batch.first, batch.head(1))
        except Exception:  # e.g. one row through BatchNorm in train mode: the default
            tuner.choices[key] = default
    return tuner.choices.get(key, default)
