"""Chunk sizes of the attribution methods: the defaults in lightning_xai/methods/captum_catalog.py.

    python -m bench.bench_chunks [--threads 1]     # about 9 minutes on 2 busy CPU cores

Every candidate runs through :class:`~lightning_xai.methods.ConfiguredMethod` (the monitor's
path) on the monitor's default probe: 16 samples. Image methods use seed 000's ConvNet on
1x28x28 inputs with the monitor's default masks (7x7 patches: 49 features); tabular methods a
30-feature MLP (breast-cancer sized). Candidates of one knob run interleaved (medians of 3 after
a warm-up, ``bench/timing.py``). The chosen value is the smallest one within 10% of the best
median: larger chunks only cost memory once they stop paying.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bench.timing import compare, machine
from example_trainers.models import ConvNet
from lightning_xai.methods import ConfiguredMethod

N_PROBES = 16
TOLERANCE = 1.10


def _runner(name: str, options: dict[str, Any], model: nn.Module, x: torch.Tensor, t: Any):
    method = ConfiguredMethod(name, options)
    method.bind(model)

    def run() -> None:
        torch.manual_seed(0)
        method.attribute(x, t)

    return run


def sweep(
    label: str,
    name: str,
    knob: str,
    values: Sequence[int],
    base: dict[str, Any],
    model: nn.Module,
    x: torch.Tensor,
    t: Any,
    rows_per_value: int = 1,
) -> int:
    """Prints one markdown row: median ms per candidate value (rows per forward pass in
    brackets); returns the chosen value."""
    if knob == "nt_samples_batch_size":
        noise = base.get("noise_tunnel", {})
        candidates = {
            v: _runner(name, {**base, "noise_tunnel": {**noise, knob: v}}, model, x, t)
            for v in values
        }
    else:
        candidates = {v: _runner(name, {**base, knob: v}, model, x, t) for v in values}
    times = compare({str(v): fn for v, fn in candidates.items()}, repeats=3)
    best = min(times.values())
    chosen = min(v for v in values if times[str(v)] <= TOLERANCE * best)

    def cell(v: int) -> str:
        text = f"{v} ({v * rows_per_value}): {times[str(v)] * 1e3:.0f}"
        return f"**{text}**" if v == chosen else text

    cells = ", ".join(cell(v) for v in values)
    print(f"| {label} | `{knob}` | {cells} | {chosen * rows_per_value} |", flush=True)
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Chunk sizes of the attribution methods.")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# machine: {machine()}; {os.cpu_count()} CPUs; date: {time.strftime('%Y-%m-%d')}")
    print(f"# load average before: {os.getloadavg()[0]:.2f}")
    print("| method | knob | value (rows per forward): median ms | best rows (within 10%) |")
    print("|---|---|---|---|")
    n = N_PROBES
    cnn = ConvNet().eval()
    x = torch.randn(n, 1, 28, 28)
    t = cnn(x).argmax(1)
    steps = (16, 32, 64, 128, 256, n * 50)
    for label, name, options in (
        ("IntegratedGradients, 50 steps", "IntegratedGradients", {}),
        ("LayerConductance `cn2`, 50 steps", "LayerConductance", {"layer": "cn2"}),
        ("NeuronIntegratedGradients `fc1`[0], 50 steps", "NeuronIntegratedGradients",
         {"layer": "fc1", "neuron_selector": 0}),
    ):  # fmt: skip
        sweep(label, name, "internal_batch_size", steps, options, cnn, x, t)
    patches = (1, 2, 4, 8, 16, 49)  # perturbations of the whole probe per forward
    for label, name, options in (
        ("Occlusion, 49 windows", "Occlusion", {}),
        ("FeatureAblation, 49 patches", "FeatureAblation", {}),
        ("ShapleyValueSampling, 49 patches x 2", "ShapleyValueSampling", {"n_samples": 2}),
        ("FeaturePermutation, 49 patches", "FeaturePermutation", {}),
    ):
        sweep(label, name, "perturbations_per_eval", patches, options, cnn, x, t, n)
    surrogate = (1, 16, 32, 64, 128)  # one input at a time: rows = value
    for name in ("KernelShap", "Lime"):
        label = f"{name}, 49 patches, 128 samples"
        sweep(label, name, "perturbations_per_eval", surrogate, {"n_samples": 128}, cnn, x, t)
    noise = (1, 2, 4, 8, 10)  # noisy copies of the probe per batch
    for label, name, options in (
        ("NoiseTunnel(Saliency), 10 samples", "NoiseTunnel(Saliency)", {}),
        ("NoiseTunnel(IntegratedGradients), 10 x 20 steps", "NoiseTunnel(IntegratedGradients)",
         {"n_steps": 20}),
    ):  # fmt: skip
        options = {**options, "noise_tunnel": {"nt_samples": 10}}
        sweep(label, name, "nt_samples_batch_size", noise, options, cnn, x, t, n)

    mlp = nn.Sequential(
        nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2)
    ).eval()
    xt = torch.randn(n, 30)
    tt = mlp(xt).argmax(1)
    sweep("tabular IntegratedGradients, 50 steps", "IntegratedGradients", "internal_batch_size",
          steps, {}, mlp, xt, tt)  # fmt: skip
    sweep("tabular FeatureAblation, 30 columns", "FeatureAblation", "perturbations_per_eval",
          (1, 2, 4, 8, 16, 30), {}, mlp, xt, tt, n)  # fmt: skip
    sweep("tabular KernelShap, 30 columns, 128 samples", "KernelShap", "perturbations_per_eval",
          surrogate, {"n_samples": 128}, mlp, xt, tt)  # fmt: skip
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
