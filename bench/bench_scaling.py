"""How a monitor run's cost scales: probes, n_steps, input size, number of methods.

    python -m bench.bench_scaling [--threads 1] [--repeats 3]

Each row times what AttributionMonitor does per validation run for image inputs: one
forward pass over the probe (predictions, targets), each method through ConfiguredMethod
(the monitor's chunking), and the pictures (batched rendering and PNG encoding, as
``_log_pictures`` does them, here inline). Candidates of one table run interleaved
(`bench/timing.py`), medians.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import Tensor, nn

from bench.timing import compare, machine
from example_trainers.models import ConvNet
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.render import (
    encode_png,
    enlarge,
    render_attribution,
    titled_rows,
    to_display,
    to_uint8,
)

METHODS = ("IntegratedGradients", "Saliency", "LayerGradCam", "GradientShap")


class SizeFreeNet(nn.Module):
    """Seed-ConvNet-like (two 3x3 convs, 32 channels) with adaptive pooling: any input size."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(),
            nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Linear(32 * 36, 10),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


def monitor_run(model: nn.Module, x: Tensor, methods: dict[str, ConfiguredMethod]) -> None:
    """One run's work, as the monitor does it (rendering inline, not on the writer thread)."""
    with torch.no_grad():
        targets = model(x).argmax(1)
    maps = {}
    for key, method in methods.items():
        torch.manual_seed(0)
        maps[key] = method.to_input_space(method.attribute(x, targets), x).detach()
    small = to_display(x)
    rendered = [render_attribution(a, small) for a in maps.values()]
    everything = to_uint8(torch.stack([small, *rendered]))
    shown, *pictures = enlarge(everything.flatten(0, 1), 112).unflatten(0, everything.shape[:2])
    panels = titled_rows([shown, *pictures], ["input", *maps], [f"#{k}" for k in range(len(x))])
    for k in range(len(x)):
        for picture in pictures:
            encode_png(picture[k])
        encode_png(panels[k])


def bound(model: nn.Module, names: tuple[str, ...], **ig: int) -> dict[str, ConfiguredMethod]:
    methods = {}
    for name in names:
        options = dict(ig) if name == "IntegratedGradients" else None
        methods[name] = ConfiguredMethod(name, options)
        methods[name].bind(model)
    return methods


def table(title: str, rows: dict[str, object], repeats: int) -> None:
    times = compare(rows, repeats=repeats)  # type: ignore[arg-type]
    first = next(iter(times.values()))
    print(f"\n### {title}\n\n| setting | ms | relative |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds * 1e3:.0f} | {seconds / first:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# machine: {machine()}; date: {time.strftime('%Y-%m-%d')}; load {os.getloadavg()}")
    net = ConvNet().eval()
    x64 = torch.randn(64, 1, 28, 28)
    three = bound(net, METHODS[:3])
    table(
        "probes (seed ConvNet 1x28x28; IG n_steps=50, Saliency, LayerGradCam)",
        {f"{n} probes": (lambda n=n: monitor_run(net, x64[:n], three)) for n in (8, 16, 32, 64)},
        args.repeats,
    )
    steps = {n: bound(net, ("IntegratedGradients",), n_steps=n) for n in (10, 25, 50, 100)}
    table(
        "n_steps (seed ConvNet, 16 probes, IntegratedGradients alone)",
        {f"n_steps={n}": (lambda m=m: monitor_run(net, x64[:16], m)) for n, m in steps.items()},
        args.repeats,
    )
    counts = {k: bound(net, METHODS[:k]) for k in (1, 2, 3, 4)}
    table(
        "number of methods (seed ConvNet, 16 probes; IG, + Saliency, + LayerGradCam, "
        "+ GradientShap)",
        {f"{k} methods": (lambda m=m: monitor_run(net, x64[:16], m)) for k, m in counts.items()},
        args.repeats,
    )
    free = SizeFreeNet().eval()
    sized = bound(free, METHODS[:3])
    inputs = {s: torch.randn(16, 1, s, s) for s in (28, 56, 112, 224)}
    table(
        "input size (SizeFreeNet, 16 probes; IG n_steps=50, Saliency, LayerGradCam)",
        {f"1x{s}x{s}": (lambda x=x: monitor_run(free, x, sized)) for s, x in inputs.items()},
        args.repeats,
    )
    print(f"\n# load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
