"""Seed 003's attention maps: a tiny vision transformer on handwritten digits, with the CLS
token's attention over the patches per head, every head's attention matrix, and IG.

python -m example_trainers.attention                 # scikit-learn digits, offline (~1 min)
python -m example_trainers.attention --fake-data     # torchvision FakeData 1x28x28
tensorboard --logdir xai_logs                        # IMAGES: filter on "attention"
"""

from __future__ import annotations

import pytorch_lightning as pl

from example_trainers.common import fit_and_report, make_parser
from example_trainers.data import DigitsDataModule, VisionDataModule
from example_trainers.models import Classifier, TinyViT
from lightning_xai import AttentionMonitor, AttributionMonitor


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = make_parser("attention", __doc__, max_epochs=15)
    parser.add_argument("--fake-data", action="store_true", help="FakeData 1x28x28, 10 classes")
    args = parser.parse_args(argv)

    pl.seed_everything(args.seed, verbose=False)
    data: DigitsDataModule | VisionDataModule
    if args.fake_data:
        data = VisionDataModule("mnist", fake=True)
        denormalize = (data.mean, data.std)
    else:
        data = DigitsDataModule(seed=args.seed)
        data.setup()  # computes the normalisation
        denormalize = ([data.mean], [data.std])
    callbacks = [
        # Default: every nn.MultiheadAttention (net.encoder.layers.0.self_attn, ...layers.1...).
        AttentionMonitor(num_probes=args.num_probes, denormalize=denormalize),
        AttributionMonitor(
            {"IntegratedGradients": {"n_steps": 16}},
            num_probes=args.num_probes,
            denormalize=denormalize,
        ),
    ]
    model = Classifier(TinyViT(in_channels=1, num_classes=10), lr=2e-3)
    return fit_and_report("attention", model, data, callbacks, args)


if __name__ == "__main__":
    main()
