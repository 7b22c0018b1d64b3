"""The demo: seed 000's ConvNet learns scikit-learn's digits while the monitors watch.

python -m example_trainers.digits            # about 30 s on 2 quiet CPU cores
tensorboard --logdir xai_logs                # then open the XAI tab
"""

from __future__ import annotations

import argparse
import time

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from example_trainers.data import DigitsDataModule
from example_trainers.models import Classifier, ConvNet
from lightning_xai import AttributionMonitor, FeatureMapMonitor

METHODS = ("IntegratedGradients", "Saliency", "DeepLift", "LayerGradCam", "NoiseTunnel(Saliency)")


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--log-dir", default="xai_logs", help="TensorBoard log directory")
    parser.add_argument("--num-probes", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="2 batches, 1 epoch: a quick check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    pl.seed_everything(args.seed, verbose=False)
    data = DigitsDataModule(seed=args.seed)
    data.setup()
    monitor = AttributionMonitor(
        methods=list(METHODS),
        num_probes=args.num_probes,
        denormalize=([data.mean], [data.std]),
    )
    logger = TensorBoardLogger(args.log_dir, name="digits")
    trainer = pl.Trainer(
        max_epochs=1 if args.smoke else args.max_epochs,
        limit_train_batches=2 if args.smoke else None,
        limit_val_batches=2 if args.smoke else None,
        logger=logger,
        callbacks=[monitor, FeatureMapMonitor(num_probes=args.num_probes)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        # Not `deterministic=True`: DeepLift through MaxPool2d needs max_unpool2d, which has
        # no deterministic kernel (torch would warn; the CPU run is reproducible anyway).
    )
    start = time.perf_counter()
    trainer.fit(Classifier(ConvNet()), datamodule=data)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    print(
        f"\nTrained {trainer.current_epoch} epochs in {time.perf_counter() - start:.0f} s; "
        f"validation accuracy {metrics.get('val_acc', float('nan')):.3f}."
    )
    print(f"Explanations logged under {logger.log_dir}. Look at them with:\n")
    print(f"    tensorboard --logdir {args.log_dir}\n")
    print(
        "and open the XAI tab: every epoch, methods side by side, epochs compared. The stock\n"
        "IMAGES tab keeps only 10 pictures per tag unless TensorBoard is started with\n"
        "--samples_per_plugin images=0.\n"
    )
    return metrics


if __name__ == "__main__":
    main()
