"""LightningCLI over the digits demo: every callback configured from YAML.

python -m example_trainers.cli fit --config example_trainers/configs/digits.yaml
"""

from __future__ import annotations

from pytorch_lightning.cli import LightningCLI

from example_trainers.data import DigitsDataModule
from example_trainers.models import Classifier, ConvNet


class ConvNetClassifier(Classifier):
    """Seed 000's ConvNet in a LightningModule whose arguments a config file can set."""

    def __init__(self, lr: float = 1e-3, num_classes: int = 10) -> None:
        super().__init__(ConvNet(num_classes), lr)


def main(args: list[str] | None = None) -> LightningCLI:
    """Runs the CLI (``args`` as on the command line; ``None`` reads ``sys.argv``)."""
    return LightningCLI(ConvNetClassifier, DigitsDataModule, args=args)


if __name__ == "__main__":
    main()
