"""Seeds 001 and 003: torchvision's ResNet-18 on CIFAR-10 with IG, GradientShap, Occlusion and
Grad-CAM on `layer4`.

python -m example_trainers.resnet --fake-data              # offline, random init
python -m example_trainers.resnet --data-dir data          # CIFAR-10 (downloads 170 MB)
python -m example_trainers.resnet --weights IMAGENET1K_V1  # ImageNet weights (downloaded),
tensorboard --logdir xai_logs                              #   inputs resized to 224x224
"""

from __future__ import annotations

import pytorch_lightning as pl

from example_trainers.common import add_data_options, fit_and_report, make_parser, setup_or_exit
from example_trainers.data import VisionDataModule
from example_trainers.models import Classifier, resnet18
from lightning_xai import AttributionMonitor

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
WEIGHTS = ("IMAGENET1K_V1", "DEFAULT")


def methods(light: bool = False) -> dict[str, dict[str, object]]:
    """The tutorials' four views (``light``: fewer steps and windows, for ``--smoke``).

    Layer names are relative to the LightningModule (``net.`` is the Classifier's ResNet).
    """
    occlusion = {"sliding_window_shapes": (3, 8, 8), "strides": 8} if light else {}
    return {
        "IntegratedGradients": {"n_steps": 8 if light else 32, "internal_batch_size": 32},
        "GradientShap": {"n_samples": 4 if light else 8, "stdevs": 0.1},
        "Occlusion": occlusion,  # default: a 1/7-of-the-side window, stride = window
        "LayerGradCam": {"layer": "net.layer4"},
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = make_parser("resnet", __doc__, max_epochs=5, num_probes=4)
    add_data_options(parser, "CIFAR-10", "3x32x32")
    parser.add_argument(
        "--weights",
        choices=WEIGHTS,
        help="torchvision ResNet18_Weights to start from (downloaded); default: random init",
    )
    parser.add_argument("--image-size", type=int, help="input side (default 32; 224 w/ weights)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    pl.seed_everything(args.seed, verbose=False)
    pretrained = args.weights is not None
    mean, std = IMAGENET if pretrained else (None, None)
    data = VisionDataModule(
        "cifar10",
        args.data_dir,
        fake=args.fake_data,
        download=not args.no_download,
        batch_size=args.batch_size,
        val_batch_size=args.batch_size,
        image_size=args.image_size or (224 if pretrained else None),
        mean=mean,
        std=std,
    )
    setup_or_exit(parser, data)
    monitor = AttributionMonitor(
        methods=methods(light=args.smoke),
        num_probes=args.num_probes,
        denormalize=(data.mean, data.std),
    )
    model = Classifier(resnet18(10, args.weights), lr=1e-3)
    return fit_and_report("resnet", model, data, [monitor], args)


if __name__ == "__main__":
    main()
