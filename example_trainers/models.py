"""The tutorials' networks, and a LightningModule that trains any classifier."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Classifier", "ConvNet"]


class ConvNet(nn.Module):
    """Seed 000's MNIST ConvNet: two 3x3 convs (16, 32 filters), dropout, 4608 -> 64 -> 10.

    Differences from the tutorial, both for correct attributions: each ReLU is its own
    ``nn.ReLU`` module (DeepLift and GuidedBackprop only rewrite ReLU *modules*; functional
    ``F.relu`` makes them silently wrong), and the second dropout is ``nn.Dropout`` (it acts on
    a flat vector, where ``Dropout2d`` warns).

    Input ``[N, 1, 28, 28]``; output log-probabilities ``[N, 10]``.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.cn1 = nn.Conv2d(1, 16, 3, 1)
        self.relu1 = nn.ReLU()
        self.cn2 = nn.Conv2d(16, 32, 3, 1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.dp1 = nn.Dropout2d(0.10)
        self.fc1 = nn.Linear(4608, 64)
        self.relu3 = nn.ReLU()
        self.dp2 = nn.Dropout(0.25)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.relu2(self.cn2(self.relu1(self.cn1(x)))))
        x = self.dp2(self.relu3(self.fc1(torch.flatten(self.dp1(x), 1))))
        return F.log_softmax(self.fc2(x), dim=1)


class Classifier(pl.LightningModule):
    """Trains ``net`` with cross-entropy (works for logits and log-probabilities alike).

    Layers are reached as ``net.<name>`` (e.g. ``layer="net.cn2"``).
    """

    def __init__(self, net: nn.Module, lr: float = 1e-3) -> None:
        super().__init__()
        self.net = net
        self.lr = lr

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log(f"{stage}_loss", loss, prog_bar=stage == "val")
        self.log(f"{stage}_acc", (logits.argmax(1) == y).float().mean(), prog_bar=stage == "val")
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
