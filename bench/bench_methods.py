"""Each method the monitor's way against its compute floor and against Captum's defaults.

    python -m bench.bench_methods [--threads 1] [--models convnet resnet18] [--methods ...]

Issue 7, item 1. For IntegratedGradients, GradientShap, NoiseTunnel(Saliency), Occlusion and
LayerConductance, on seed 000's ConvNet (32 probes 1x28x28) and torchvision's ResNet-18
(``num_classes=10``, random weights, 16 probes 3x64x64), three ways of doing the same work run
interleaved in one process (``bench/timing.py``; times are medians, ratios the median of the
per-round ratios):

- floor: only the forward (+backward) passes the method performs, over rows built before the
  clock starts, at several chunk sizes; the fastest chunk is the floor. It does less than the
  method must: the rows (scaled, noisy or occluded inputs) are built before its clock, it
  keeps no per-row results and, for LayerConductance, does not difference the layer's
  outputs; and the fastest of several noisy medians is biased low. Two more candidates say
  how much of monitor / floor is which: "same passes" (the floor in the pass sizes the
  monitor's call uses: monitor / same passes is what the call adds to its passes) and
  "build rows" (building the floor's rows, part of the monitor's call);
- monitor: ``ConfiguredMethod(name).bind(model)`` then ``.attribute(x, target)``, as
  AttributionMonitor calls it (its default options and chunking);
- captum: Captum's class called with its own defaults on the same work (same n_steps,
  n_samples, windows, baselines; no chunking arguments).

Targets (issue 18): monitor / floor <= 1.10; captum / monitor >= 1.0 (issue 7 had asked 1.15 and,
on the ConvNet, 1.8: unreachable where Captum's default is already near the floor, README).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from captum.attr import (
    GradientShap,
    IntegratedGradients,
    LayerConductance,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from torch import Tensor, nn

from bench.timing import machine, page_faults, paired_ratio, timed
from example_trainers.models import ConvNet
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.methods.threads import ThreadTuner
from lightning_xai.methods.windows import default_window

METHODS = (
    "IntegratedGradients",
    "GradientShap",
    "NoiseTunnel(Saliency)",
    "Occlusion",
    "LayerConductance",
)
N_STEPS = 50  # Captum's default for IG and LayerConductance; the monitor keeps it
N_SAMPLES = 5  # GradientShap's default
NT_SAMPLES, NT_STDEV = 10, 0.2  # the monitor's NoiseTunnel defaults
MONITOR_TARGET, CAPTUM_TARGET = 1.10, 1.0


@dataclass
class Case:
    """One model with its probe, targets, layer and the floor's chunk sizes (rows)."""

    name: str
    model: nn.Module
    x: Tensor
    target: Tensor
    layer: str
    chunks: tuple[int, ...]
    repeats: int
    whole: bool  # also time the floor as one pass of all rows (Captum's default way)

    def window(self) -> tuple[int, ...]:
        """The monitor's default Occlusion window (stride = window)."""
        return default_window(self.x.shape)


def convnet_case(repeats: int) -> Case:
    torch.manual_seed(0)
    model = ConvNet().eval()
    x = torch.randn(32, 1, 28, 28)
    chunks = (32, 64, 128, 256, 512)
    return Case("seed ConvNet, 32 x 1x28x28", model, x, _predicted(model, x), "cn2", chunks,
                repeats, whole=True)  # fmt: skip


def resnet_case(repeats: int) -> Case:
    # torchvision's own ResNet-18 (7x7 stride-2 stem and max-pool). The project's random-init
    # variant (example_trainers.models.resnet18: 3x3 stride-1 stem, no max-pool, for 32x32
    # inputs) costs ~17x more per 64x64 row (114 vs 6.7 ms forward+backward, 1 thread here):
    # IG alone would take ~90 s per call.
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=10).eval()
    x = torch.randn(16, 3, 64, 64)
    chunks = (32, 64, 128)  # 256 rows: never more than 1% faster in 3 runs
    return Case("ResNet-18, 16 x 3x64x64", model, x, _predicted(model, x), "layer4", chunks,
                repeats, whole=False)  # fmt: skip


def _predicted(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


# -- floors: the bare passes over rows built before the clock ------------------------------
Passes = Callable[..., None]
"""``passes(chunk)``: the floor's passes, ``chunk`` rows each, or the given sizes in order."""


def _cuts(total: int, chunk: int | Sequence[int]) -> list[slice]:
    sizes = [chunk] * -(-total // chunk) if isinstance(chunk, int) else list(chunk)
    cuts, start = [], 0
    for size in sizes:
        cuts.append(slice(start, min(total, start + size)))
        start += size
    return cuts


def gradient_floor(model: nn.Module, rows: Tensor, target: Tensor) -> Passes:
    """Forward + backward to the input over ``rows``, ``chunk`` rows per pass."""
    rows = rows.detach().requires_grad_()

    def passes(chunk: int | Sequence[int]) -> None:
        for cut in _cuts(rows.shape[0], chunk):
            part = rows[cut]
            out = model(part).gather(1, target[cut, None]).sum()
            torch.autograd.grad(out, part)

    return passes


def forward_floor(model: nn.Module, rows: Tensor) -> Passes:
    """Forward only, no autograd graph (Captum's perturbation methods run under no_grad)."""

    def passes(chunk: int | Sequence[int]) -> None:
        with torch.no_grad():
            for cut in _cuts(rows.shape[0], chunk):
                model(rows[cut])

    return passes


def layer_floor(model: nn.Module, layer: nn.Module, rows: Tensor, target: Tensor) -> Passes:
    """Forward + backward from the output to ``layer``'s output (what LayerConductance needs)."""
    seen: list[Tensor] = []

    def passes(chunk: int | Sequence[int]) -> None:
        hook = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
        try:
            for cut in _cuts(rows.shape[0], chunk):
                seen.clear()
                out = model(rows[cut]).gather(1, target[cut, None])
                torch.autograd.grad(out.sum(), seen[-1])
        finally:
            hook.remove()
            seen.clear()

    return passes


def floor_rows(case: Case, method: str) -> tuple[str, Tensor, Tensor]:
    """(kind, rows, targets) of the passes ``method`` performs on ``case``'s probe."""
    x, t = case.x, case.target
    if method == "IntegratedGradients":  # N * n_steps rows on the straight path from zeros
        alphas = torch.linspace(0, 1, N_STEPS)
        return "grad", torch.cat([a * x for a in alphas]), t.repeat(N_STEPS)
    if method == "GradientShap":  # N * n_samples rows between a zero baseline and the input
        alphas = torch.rand(N_SAMPLES * len(x), 1, 1, 1)
        return "grad", alphas * x.repeat(N_SAMPLES, 1, 1, 1), t.repeat(N_SAMPLES)
    if method == "NoiseTunnel(Saliency)":  # N * nt_samples noisy rows
        noisy = x.repeat(NT_SAMPLES, 1, 1, 1)
        return "grad", noisy + NT_STDEV * torch.randn_like(noisy), t.repeat(NT_SAMPLES)
    if method == "Occlusion":  # the unoccluded forward, then one per window position
        # Captum's positions: ceil((side - window) / stride) + 1 per side, the last one cut
        # off at the edge (64 px, window 9: 8 x 8 positions, the last a 1-px sliver).
        _, wh, ww = case.window()
        occluded = [x]
        for i in range(0, wh * (math.ceil((x.shape[2] - wh) / wh) + 1), wh):
            for j in range(0, ww * (math.ceil((x.shape[3] - ww) / ww) + 1), ww):
                part = x.clone()
                part[:, :, i : i + wh, j : j + ww] = 0
                occluded.append(part)
        return "forward", torch.cat(occluded), t.repeat(len(occluded))
    if method == "LayerConductance":  # n_steps + 1 points: it differences consecutive ones
        alphas = torch.linspace(0, 1, N_STEPS + 1)
        return "layer", torch.cat([a * x for a in alphas]), t.repeat(N_STEPS + 1)
    raise ValueError(method)


def floor_passes(case: Case, method: str) -> tuple[Passes, int]:
    """The floor's passes for ``method`` on ``case`` and the rows they cover."""
    kind, rows, target = floor_rows(case, method)
    if kind == "grad":
        return gradient_floor(case.model, rows, target), rows.shape[0]
    if kind == "forward":
        return forward_floor(case.model, rows), rows.shape[0]
    layer = case.model.get_submodule(case.layer)
    return layer_floor(case.model, layer, rows, target), rows.shape[0]


def floor_candidates(case: Case, method: str) -> dict[str, Callable[[], None]]:
    """``floor <rows>``: the floor at each chunk size of ``case`` (and all rows at once)."""
    passes, total = floor_passes(case, method)
    chunks = [c for c in case.chunks if c < total]
    if case.whole or total <= 2 * max(case.chunks):
        chunks.append(total)
    return {f"floor {c}": (lambda c=c: passes(c)) for c in chunks}


def monitor_passes(case: Case, method: str) -> list[int]:
    """Rows of each forward pass of a monitor call (a fresh ``ConfiguredMethod``; its second
    call: the first also sizes the chunks with a one-row forward)."""
    sizes: list[int] = []
    call = monitor_call(case, method)
    call()
    handle = case.model.register_forward_pre_hook(lambda _m, args: sizes.append(len(args[0])))
    try:
        call()
    finally:
        handle.remove()
    return sizes


def same_passes_floor(case: Case, method: str) -> tuple[str, Callable[[], None]] | None:
    """``("same passes", fn)``: the floor in the monitor's own pass sizes (its chunk
    choice), so that monitor / this is the monitor's overhead alone; ``None`` when the
    monitor's passes do not cover the floor's rows (they then do different work)."""
    passes, total = floor_passes(case, method)
    sizes = monitor_passes(case, method)
    if sum(sizes) != total:
        return None
    return "same passes", lambda: passes(sizes)


def build_rows(case: Case, method: str) -> Callable[[], None]:
    """Building the floor's rows (scaled, noisy or occluded inputs): work the monitor does
    inside its call and the floor does before its clock starts."""
    return lambda: floor_rows(case, method) and None


# -- the monitor's way and Captum's defaults -----------------------------------------------
def monitor_call(case: Case, method: str) -> Callable[[], object]:
    options = {"layer": case.layer} if method == "LayerConductance" else None
    configured = ConfiguredMethod(method, options)
    configured.bind(case.model)

    def run() -> object:
        torch.manual_seed(0)  # the monitor seeds before each method
        return configured.attribute(case.x, case.target)

    return run


def captum_call(case: Case, method: str) -> Callable[[], object]:
    model, x, t = case.model, case.x, case.target
    if method == "IntegratedGradients":
        ig = IntegratedGradients(model)
        return lambda: ig.attribute(x, target=t, n_steps=N_STEPS)
    if method == "GradientShap":
        shap = GradientShap(model)
        zeros = torch.zeros_like(x[:1])
        return lambda: shap.attribute(x, baselines=zeros, target=t, n_samples=N_SAMPLES)
    if method == "NoiseTunnel(Saliency)":
        tunnel = NoiseTunnel(Saliency(model))
        return lambda: tunnel.attribute(
            x, nt_type="smoothgrad", nt_samples=NT_SAMPLES, stdevs=NT_STDEV, target=t
        )
    if method == "Occlusion":
        occlusion = Occlusion(model)
        window = case.window()
        return lambda: occlusion.attribute(
            x, sliding_window_shapes=window, strides=window, target=t
        )
    if method == "LayerConductance":
        conductance = LayerConductance(model, model.get_submodule(case.layer))
        return lambda: conductance.attribute(x, target=t, n_steps=N_STEPS)
    raise ValueError(method)


@dataclass
class Row:
    case: Case
    method: str
    samples: dict[str, list[float]]
    threads: str = ""

    @property
    def times(self) -> dict[str, float]:
        """Median seconds per candidate."""
        return {k: statistics.median(v) for k, v in self.samples.items()}

    @property
    def best_floor(self) -> str:
        floors = {k: v for k, v in self.times.items() if k.startswith("floor")}
        return min(floors, key=floors.get)

    @property
    def floor(self) -> float:
        return self.times[self.best_floor]

    @property
    def monitor_ratio(self) -> float:
        return paired_ratio(self.samples, "monitor", self.best_floor)

    @property
    def overhead(self) -> float | None:
        """Monitor / the floor in the monitor's own passes: what the call adds to its passes."""
        if "same passes" not in self.samples:
            return None
        return paired_ratio(self.samples, "monitor", "same passes")

    @property
    def captum_ratio(self) -> float:
        return paired_ratio(self.samples, "captum", "monitor")

    def misses(self) -> list[str]:
        missed = []
        if self.monitor_ratio > MONITOR_TARGET:
            missed.append(f"monitor/floor > {MONITOR_TARGET}")
        if self.captum_ratio < CAPTUM_TARGET:
            missed.append(f"captum/monitor < {CAPTUM_TARGET}")
        return missed


def candidates(case: Case, method: str) -> dict[str, Callable[[], object]]:
    """Every candidate of one method: the floors by chunk, the floor in the monitor's
    passes, building the rows, the monitor's call and Captum's default call."""
    same = same_passes_floor(case, method)
    return {
        **floor_candidates(case, method),
        **dict([same] if same else []),
        "build rows": build_rows(case, method),
        "monitor": monitor_call(case, method),
        "captum": captum_call(case, method),
    }


def monitor_threads(case: Case) -> str:
    """The thread count the monitor's calls on ``case.model`` ran at (ThreadTuner's choice)."""
    choice = ThreadTuner.of(case.model).choice
    return str(choice or torch.get_num_threads())


def measure(case: Case, method: str) -> Row:
    start = time.perf_counter()
    calls = candidates(case, method)
    row = Row(case, method, timed(calls, case.repeats), monitor_threads(case))
    times = row.times
    faults = {k: page_faults(calls[k]) for k in (row.best_floor, "monitor", "captum")}
    by_chunk = ", ".join(
        f"{k.split()[1]}: {v * 1e3:.0f}" for k, v in times.items() if k.startswith("floor")
    )
    same = times.get("same passes")
    print(
        f"  {method:22s} floor {row.floor * 1e3:8.1f} | same passes "
        f"{(same or math.nan) * 1e3:8.1f} | monitor {times['monitor'] * 1e3:8.1f} "
        f"({row.threads} thr) | captum {times['captum'] * 1e3:8.1f} ms | build rows "
        f"{times['build rows'] * 1e3:.1f} ms  (floor by chunk, ms: {by_chunk}; "
        f"{time.perf_counter() - start:.0f} s)\n    page faults per call: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in faults.items()),
        flush=True,
    )
    return row


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| model | method | floor ms (best chunk) | monitor ms (threads) | captum default ms | "
        "monitor / floor | monitor / same passes | captum / monitor | misses |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        chunk = r.best_floor.split()[1]
        overhead = "-" if r.overhead is None else f"{r.overhead:.2f}x"
        lines.append(
            f"| {r.case.name} | {r.method} | {r.floor * 1e3:,.0f} ({chunk}) | "
            f"{r.times['monitor'] * 1e3:,.0f} ({r.threads}) | {r.times['captum'] * 1e3:,.0f} | "
            f"{r.monitor_ratio:.2f}x | {overhead} | {r.captum_ratio:.2f}x | "
            f"{'; '.join(r.misses()) or '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--models", nargs="+", default=["convnet", "resnet18"],
                        choices=["convnet", "resnet18"])  # fmt: skip
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--repeats", type=int, default=9, help="repeats, ConvNet")
    parser.add_argument("--resnet-repeats", type=int, default=5, help="repeats, ResNet-18")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# machine: {machine()}; {os.cpu_count()} CPUs; date: {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# load average before: {os.getloadavg()}", flush=True)
    builders = {
        "convnet": (convnet_case, args.repeats),
        "resnet18": (resnet_case, args.resnet_repeats),
    }
    rows = []
    start = time.perf_counter()
    for key in args.models:
        build, repeats = builders[key]
        case = build(repeats)
        print(f"## {case.name} (medians of {repeats} interleaved repeats after a warm-up)")
        for method in args.methods:
            rows.append(measure(case, method))
    print(f"# load average after: {os.getloadavg()}; total {time.perf_counter() - start:.0f} s")
    print(table(rows))


if __name__ == "__main__":
    main()
