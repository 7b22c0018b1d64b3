"""Attribution and rendering cost of AttributionMonitor against Captum's defaults.

    python -m bench.bench_attribution [--threads 1]

Seed 000's ConvNet, 32 probes of 1x28x28. Everything runs side by side in one process.
"""

from __future__ import annotations

import argparse
import io
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from captum.attr import IntegratedGradients
from captum.attr import visualization as viz
from PIL import Image

from bench.timing import compare, machine
from example_trainers.models import ConvNet
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.render import (
    encode_png,
    enlarge,
    render_attribution,
    titled_row,
    titled_rows,
    to_display,
    to_uint8,
)

N_PROBES, N_STEPS = 32, 50


def ig_floor(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> dict[int, float]:
    """Seconds of the bare forward+backward passes IG needs (N*n_steps rows), per chunk size."""
    rows = x.repeat(N_STEPS, 1, 1, 1).requires_grad_()
    rows_target = target.repeat(N_STEPS)

    def passes(chunk: int) -> None:
        for start in range(0, rows.shape[0], chunk):
            part = rows[start : start + chunk]
            out = model(part).gather(1, rows_target[start : start + chunk, None]).sum()
            torch.autograd.grad(out, part)

    chunks = (32, 64, 128, 256, 512, rows.shape[0])
    return compare({str(c): (lambda c=c: passes(c)) for c in chunks}, repeats=3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ConvNet().eval()
    x = torch.randn(N_PROBES, 1, 28, 28)
    target = model(x).argmax(1)

    configured = ConfiguredMethod("IntegratedGradients")
    configured.bind(model)
    captum_default = IntegratedGradients(model)
    attribution = {
        "captum default": lambda: captum_default.attribute(x, target=target, n_steps=N_STEPS),
        "monitor": lambda: configured.attribute(x, target),
    }
    times = compare(attribution, repeats=5)
    floor = ig_floor(model, x, target)
    best_chunk = min(floor, key=floor.get)
    print(f"# machine: {machine()}; date: {time.strftime('%Y-%m-%d')}; load {os.getloadavg()}")
    print("## IntegratedGradients, n_steps=50, 32 probes 1x28x28 (seed ConvNet)")
    print(f"captum default (one pass of 1600 rows): {times['captum default'] * 1e3:7.1f} ms")
    print(f"monitor (default chunking):             {times['monitor'] * 1e3:7.1f} ms")
    print(f"floor (bare passes, best chunk {best_chunk}):   {floor[best_chunk] * 1e3:7.1f} ms")
    print("floor by chunk: " + ", ".join(f"{c}: {t * 1e3:.0f} ms" for c, t in floor.items()))
    print(
        f"speed-up vs captum default: {times['captum default'] / times['monitor']:.2f}x; "
        f"monitor / floor: {times['monitor'] / floor[best_chunk]:.2f}x"
    )

    # -- rendering: 32 probes x 4 methods, PNG-encoded, as the monitor writes them --------
    attrs = {m: torch.randn(N_PROBES, 1, 28, 28) for m in ("a", "b", "c", "d")}
    headers = ["input", *attrs]
    titles = [f"#{k}" for k in range(N_PROBES)]

    def before() -> None:  # the monitor's path until issue 7: per sample, PIL's encoder
        small = to_display(x)
        shown = enlarge(small, 112)
        pictures = {m: enlarge(render_attribution(a, small), 112) for m, a in attrs.items()}
        for k in range(N_PROBES):
            tiles = [p[k] for p in pictures.values()]
            for tile in tiles:
                _png((tile * 255).byte().permute(1, 2, 0).numpy())
            panel = titled_row([shown[k], *tiles], headers, titles[k])
            _png((panel * 255).byte().permute(1, 2, 0).numpy())

    def ours() -> None:  # AttributionMonitor._log_pictures + TensorBoardSink's encoder
        small = to_display(x)
        rendered = [render_attribution(a, small) for a in attrs.values()]
        everything = to_uint8(torch.stack([small, *rendered]))
        shown, *pictures = enlarge(everything.flatten(0, 1), 112).unflatten(0, everything.shape[:2])
        panels = titled_rows([shown, *pictures], headers, titles)
        for k in range(N_PROBES):
            for picture in pictures:
                encode_png(picture[k])
            encode_png(panels[k])

    def captums() -> None:
        image = x.permute(0, 2, 3, 1).numpy()
        for a in attrs.values():
            hwc = a.permute(0, 2, 3, 1).numpy()
            for k in range(N_PROBES):
                fig, _ = viz.visualize_image_attr(
                    hwc[k], image[k], "blended_heat_map", "all", use_pyplot=False
                )
                buffer = io.BytesIO()
                fig.savefig(buffer, format="png")
                plt.close(fig)

    render = compare({"before": before, "ours": ours, "captum visualiser": captums}, repeats=3)
    print("## Rendering 32 probes x 4 methods (+ 32 panels), PNG-encoded")
    print(f"before (per sample, PIL PNG): {render['before'] * 1e3:8.1f} ms")
    print(f"ours:              {render['ours'] * 1e3:8.1f} ms")
    print(f"captum visualiser: {render['captum visualiser'] * 1e3:8.1f} ms (128 images, no panels)")
    print(f"speed-up: {render['captum visualiser'] / render['ours']:.0f}x")
    attribution_ms = 4 * times["monitor"]
    print(f"before vs 4 x monitor IG time: {render['before'] / attribution_ms * 100:.1f} %")
    print(f"ours vs 4 x monitor IG time: {render['ours'] / attribution_ms * 100:.1f} %")


def _png(pixels: np.ndarray) -> None:
    Image.fromarray(pixels).save(io.BytesIO(), format="png")


if __name__ == "__main__":
    main()
