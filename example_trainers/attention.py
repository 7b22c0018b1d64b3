"""Seed 003's attention maps: a vision transformer on handwritten digits, with the CLS token's
attention over the patches per head, every head's attention matrix, the model view, attention
rollout (plain and gradient-weighted) and IG.

python -m example_trainers.attention                     # a tiny PyTorch ViT, digits, offline
python -m example_trainers.attention --backbone hf       # a Hugging Face ViT (random, tiny)
python -m example_trainers.attention --backbone timm     # timm's vit_tiny (random, 2 blocks)
python -m example_trainers.attention --backbone hf --pretrained google/vit-base-patch16-224
                                                         # downloads; digits resized to 224
python -m example_trainers.attention --fake-data         # torchvision FakeData 1x28x28
tensorboard --logdir xai_logs                            # IMAGES: filter on "attention"
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch.nn.functional as F
from torch import Tensor, nn

from example_trainers.common import fit_and_report, make_parser
from example_trainers.data import DigitsDataModule, VisionDataModule
from example_trainers.models import Classifier, TinyViT
from lightning_xai import AttentionMonitor, AttributionMonitor

BACKBONES = ("tiny", "hf", "timm")


class HuggingFaceViT(nn.Module):
    """A Hugging Face ``ViTForImageClassification`` returning logits; single-channel digits
    are repeated to its channels and resized to its image size."""

    def __init__(self, pretrained: str | None = None, num_classes: int = 10) -> None:
        super().__init__()
        from transformers import ViTConfig, ViTForImageClassification

        if pretrained:
            self.model = ViTForImageClassification.from_pretrained(
                pretrained, num_labels=num_classes, ignore_mismatched_sizes=True
            )
        else:
            config = ViTConfig(
                image_size=28, patch_size=7, num_channels=1, hidden_size=32,
                num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                num_labels=num_classes,
            )  # fmt: skip
            self.model = ViTForImageClassification(config)

    def forward(self, x: Tensor) -> Tensor:
        config = self.model.config
        x = x.expand(-1, config.num_channels, -1, -1)
        if x.shape[-1] != config.image_size:
            x = F.interpolate(x, size=(config.image_size, config.image_size), mode="bilinear")
        return self.model(x).logits


def backbone(name: str, pretrained: str | None = None) -> nn.Module:
    """The network for ``--backbone``: inputs ``[N, 1, 28, 28]``, logits ``[N, 10]``."""
    if name == "hf":
        return HuggingFaceViT(pretrained)
    if name == "timm":
        import timm

        return timm.create_model(
            "vit_tiny_patch16_224", pretrained=False, img_size=28, patch_size=7, in_chans=1,
            num_classes=10, depth=2,
        )  # fmt: skip
    return TinyViT(in_channels=1, num_classes=10)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = make_parser("attention", __doc__, max_epochs=15)
    parser.add_argument("--fake-data", action="store_true", help="FakeData 1x28x28, 10 classes")
    parser.add_argument("--backbone", choices=BACKBONES, default="tiny", help="the ViT")
    parser.add_argument("--pretrained", help="--backbone hf: a checkpoint name (downloads)")
    args = parser.parse_args(argv)
    if args.pretrained and args.backbone != "hf":
        parser.error("--pretrained needs --backbone hf")

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
        # Default: every attention layer (net.encoder.layers.0.self_attn, ...layers.1...).
        AttentionMonitor(num_probes=args.num_probes, denormalize=denormalize),
        AttributionMonitor(
            {
                "IntegratedGradients": {"n_steps": 16},
                "AttentionRollout": {},
                "GradientAttentionRollout": {},
            },
            num_probes=args.num_probes,
            denormalize=denormalize,
        ),
    ]
    model = Classifier(backbone(args.backbone, args.pretrained), lr=2e-3)
    return fit_and_report("attention", model, data, callbacks, args)


if __name__ == "__main__":
    main()
