"""Wall-time overhead of the default monitors on a realistic fit.

    python -m bench.bench_overhead [--samples 60000] [--epochs 3] [--repeats 5]

Seed 000's ConvNet fitted on 60,000 28x28 samples (scikit-learn's digits upsampled and
jittered to MNIST size and count; no download) for 3 epochs, batch 32, with and without
the issue's default monitors (AttributionMonitor with IntegratedGradients, Saliency,
LayerGradCam and ``metrics=["infidelity"]``; FeatureMapMonitor), in pairs of fits in one
process, the first fit of a pair alternating between the two.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

from bench.timing import machine
from example_trainers.data import DigitsDataModule
from example_trainers.models import Classifier, ConvNet
from lightning_xai import AttributionMonitor, FeatureMapMonitor


def mnist_sized(samples: int) -> tuple[TensorDataset, TensorDataset]:
    """Digits at 28x28, repeated with pixel jitter to ``samples`` training samples."""
    data = DigitsDataModule()
    data.setup()
    x, y = data.train_set.tensors
    reps = -(-samples // len(y))
    g = torch.Generator().manual_seed(0)
    train_x = x.repeat(reps, 1, 1, 1) + 0.1 * torch.randn(reps * len(y), 1, 28, 28, generator=g)
    return TensorDataset(train_x[:samples], y.repeat(reps)[:samples]), data.val_set


def fit(train: TensorDataset, val: TensorDataset, epochs: int, monitors: list) -> float:
    pl.seed_everything(0, verbose=False)
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_epochs=epochs,
            logger=TensorBoardLogger(root),
            callbacks=monitors,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            num_sanity_val_steps=0,
        )
        start = time.perf_counter()
        trainer.fit(
            Classifier(ConvNet()),
            DataLoader(train, batch_size=32, shuffle=True),
            DataLoader(val, batch_size=256),
        )
        return time.perf_counter() - start


def default_monitors() -> list:
    return [
        AttributionMonitor(
            methods=["IntegratedGradients", "Saliency", "LayerGradCam"], metrics=["infidelity"]
        ),
        FeatureMapMonitor(),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    train, val = mnist_sized(args.samples)
    print(f"# load average before: {os.getloadavg()}")
    plain, monitored = [], []
    for pair in range(args.repeats):
        # Alternate which fit of a pair runs first: what one leaves behind (allocator,
        # caches, a load that starts) then falls on both alike.
        order = ("plain", "monitored") if pair % 2 == 0 else ("monitored", "plain")
        for kind in order:
            monitors = default_monitors() if kind == "monitored" else []
            seconds = fit(train, val, args.epochs, monitors)
            (monitored if kind == "monitored" else plain).append(seconds)
            print(f"  pair {pair}: {kind} {seconds:.1f} s (load {os.getloadavg()[0]:.1f})",
                  flush=True)  # fmt: skip
    print(f"# machine: {machine()}; date: {time.strftime('%Y-%m-%d')}")
    print(f"fit {args.samples} samples x {args.epochs} epochs, batch 32, {args.repeats} repeats")
    print("without monitors: " + ", ".join(f"{t:.1f} s" for t in plain))
    print("with monitors:    " + ", ".join(f"{t:.1f} s" for t in monitored))
    print(f"# load average after: {os.getloadavg()}")
    overhead = min(monitored) / min(plain) - 1
    ratios = [m / p for m, p in zip(monitored, plain, strict=True)]
    paired = statistics.mean(ratios) - 1
    spread = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
    print(f"overhead (best of each): {overhead * 100:+.1f} %")
    print(f"paired ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"overhead (mean of paired ratios): {paired * 100:+.1f} % +- {spread * 100:.1f} % (sd)")


if __name__ == "__main__":
    main()
