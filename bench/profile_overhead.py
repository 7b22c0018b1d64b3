"""Where a monitored fit's extra time goes: cProfile of the monitors' hooks in a short fit.

    python -m bench.profile_overhead [--samples 6000] [--epochs 1]

Same data, model and monitors as bench_overhead; prints the seconds spent in each monitor's
validation-end hook (training thread) and the top functions under them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import warnings

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from bench.bench_overhead import default_monitors, mnist_sized
from example_trainers.models import Classifier, ConvNet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    train, val = mnist_sized(args.samples)
    pl.seed_everything(0, verbose=False)
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_epochs=args.epochs, logger=TensorBoardLogger(root), callbacks=default_monitors(),
            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
            num_sanity_val_steps=0,
        )  # fmt: skip
        profile = cProfile.Profile()
        profile.enable()
        trainer.fit(
            Classifier(ConvNet()),
            DataLoader(train, batch_size=32, shuffle=True),
            DataLoader(val, batch_size=256),
        )
        profile.disable()
    stats = pstats.Stats(profile).sort_stats("cumulative")
    stats.print_stats(r"fit_loop|_maybe_run|_run\b|attribute|evaluate|flush|close|setup", 25)


if __name__ == "__main__":
    main()
