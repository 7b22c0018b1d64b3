"""Seed 002: the CIFAR-10 Net with IntegratedGradients, SmoothGrad-squared IG, DeepLift, Saliency.

python -m example_trainers.cifar --data-dir data     # downloads CIFAR-10 (170 MB) once
python -m example_trainers.cifar --fake-data         # offline: FakeData noise of CIFAR's shape
tensorboard --logdir xai_logs
"""

from __future__ import annotations

import pytorch_lightning as pl

from example_trainers.common import add_data_options, fit_and_report, make_parser, setup_or_exit
from example_trainers.data import VisionDataModule
from example_trainers.models import CifarNet, Classifier
from lightning_xai import AttributionMonitor

# The tutorial's four explanations; NoiseTunnel averages the squared IG maps of noisy copies.
METHODS = {
    "IntegratedGradients": {"n_steps": 32},
    "ig_smoothgrad_sq": {
        "method": "IntegratedGradients",
        "n_steps": 16,
        "noise_tunnel": {"nt_type": "smoothgrad_sq", "nt_samples": 8, "stdevs": 0.2},
    },
    "DeepLift": None,
    "Saliency": None,
}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = make_parser("cifar", __doc__, max_epochs=10)
    add_data_options(parser, "CIFAR-10", "3x32x32")
    args = parser.parse_args(argv)

    pl.seed_everything(args.seed, verbose=False)
    data = VisionDataModule(
        "cifar10", args.data_dir, fake=args.fake_data, download=not args.no_download
    )
    setup_or_exit(parser, data)
    monitor = AttributionMonitor(
        methods=METHODS, num_probes=args.num_probes, denormalize=(data.mean, data.std)
    )
    return fit_and_report("cifar", Classifier(CifarNet()), data, [monitor], args)


if __name__ == "__main__":
    main()
