"""Seed 000: the MNIST ConvNet with Saliency, IntegratedGradients, DeepLift and feature maps.

python -m example_trainers.mnist --data-dir data     # downloads MNIST (11 MB) once
python -m example_trainers.mnist --fake-data         # offline: FakeData noise of MNIST's shape
tensorboard --logdir xai_logs

No MNIST files and no internet? `python -m example_trainers.digits` trains the same network
on scikit-learn's handwritten digits, which ship offline.
"""

from __future__ import annotations

import pytorch_lightning as pl

from example_trainers.common import add_data_options, fit_and_report, make_parser, setup_or_exit
from example_trainers.data import VisionDataModule
from example_trainers.models import Classifier, ConvNet
from lightning_xai import AttributionMonitor, FeatureMapMonitor

METHODS = {"Saliency": None, "IntegratedGradients": {"n_steps": 32}, "DeepLift": None}
OFFLINE_HINT = (
    "Without the MNIST files, run `python -m example_trainers.digits` (the same ConvNet on "
    "scikit-learn's digits, no download) or pass `--fake-data` (torchvision FakeData)."
)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = make_parser("mnist", __doc__, max_epochs=3)
    add_data_options(parser, "MNIST", "1x28x28")
    args = parser.parse_args(argv)

    pl.seed_everything(args.seed, verbose=False)
    data = VisionDataModule(
        "mnist", args.data_dir, fake=args.fake_data, download=not args.no_download
    )
    setup_or_exit(parser, data, OFFLINE_HINT)
    callbacks = [
        AttributionMonitor(
            methods=METHODS,
            num_probes=args.num_probes,
            denormalize=(data.mean, data.std),
        ),
        FeatureMapMonitor(num_probes=args.num_probes),
    ]
    return fit_and_report("mnist", Classifier(ConvNet()), data, callbacks, args)


if __name__ == "__main__":
    main()
