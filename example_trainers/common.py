"""What every example trainer shares: the command-line options and the fit-and-report step."""

from __future__ import annotations

import argparse
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

__all__ = ["add_data_options", "fit_and_report", "make_parser", "setup_or_exit"]


def make_parser(
    trainer: str, doc: str | None, *, max_epochs: int, num_probes: int = 8
) -> argparse.ArgumentParser:
    """A parser for ``python -m example_trainers.<trainer>`` with the options every trainer
    takes: ``--max-epochs``, ``--log-dir``, ``--num-probes``, ``--smoke``, ``--seed``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m example_trainers.{trainer}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--max-epochs", type=int, default=max_epochs)
    parser.add_argument("--log-dir", default="xai_logs", help="TensorBoard log directory")
    parser.add_argument(
        "--num-probes", type=int, default=num_probes, help="validation samples explained"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="2 training batches, 1 validation batch: a check"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def fit_and_report(
    name: str,
    model: pl.LightningModule,
    data: pl.LightningDataModule,
    callbacks: list[pl.Callback],
    args: argparse.Namespace,
    **trainer_options: Any,
) -> dict[str, float]:
    """Fits ``model`` on ``data`` with ``callbacks`` and a TensorBoard logger under
    ``args.log_dir/name``; prints the result and the ``tensorboard`` command; returns the
    Trainer's callback metrics as floats."""
    logger = TensorBoardLogger(args.log_dir, name=name)
    options: dict[str, Any] = {
        "max_epochs": 1 if args.smoke else args.max_epochs,
        "logger": logger,
        "callbacks": callbacks,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "enable_progress_bar": not args.smoke,
        "deterministic": True,
    }
    if args.smoke:
        options.update(limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0)
    options.update(trainer_options)
    trainer = pl.Trainer(**options)
    start = time.perf_counter()
    trainer.fit(model, datamodule=data)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    score = next((k for k in ("val_acc", "val_mae", "val_loss") if k in metrics), None)
    result = f"; {score.replace('_', ' ')} {metrics[score]:.3f}" if score else ""
    print(
        f"\nTrained {trainer.current_epoch} epochs in {time.perf_counter() - start:.0f} s{result}."
    )
    print(f"Explanations logged under {logger.log_dir}. Look at them with:\n")
    print(f"    tensorboard --logdir {args.log_dir}\n")
    return metrics


def add_data_options(parser: argparse.ArgumentParser, title: str, shape: str) -> None:
    """``--data-dir``, ``--fake-data`` and ``--no-download`` for a torchvision data set."""
    parser.add_argument("--data-dir", default="data", help=f"where {title} is (or goes)")
    parser.add_argument("--fake-data", action="store_true", help=f"FakeData {shape}, 10 classes")
    parser.add_argument("--no-download", action="store_true", help=f"never download {title}")


def setup_or_exit(
    parser: argparse.ArgumentParser,
    data: pl.LightningDataModule,
    hint: str = "Pass `--fake-data` to run offline on FakeData.",
) -> None:
    """``data.setup()``; missing files end the program (exit 2) with ``hint``."""
    try:
        data.setup()
    except FileNotFoundError as err:
        parser.exit(2, f"error: {err}\n{hint}\n")
