"""A multi-input model (``forward(image, table, mask)``) and its data, for the multi-input
and DDP tests."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from tests.support.helpers import digits_tensors


class ImageAndTable(nn.Module):
    """``(image [N, 1, 8, 8], table [N, 4], mask [N, 4])`` -> logits ``[N, 10]``; the mask
    switches table features off and is not explained (an additional forward arg)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.image_head = nn.Linear(4 * 8 * 8, 10)
        self.table_head = nn.Linear(4, 10)

    def forward(self, image: Tensor, table: Tensor, mask: Tensor) -> Tensor:
        features = self.relu(self.conv(image)).flatten(1)
        return self.image_head(features) + self.table_head(table * mask)


class LitImageAndTable(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = ImageAndTable()

    def forward(self, image: Tensor, table: Tensor, mask: Tensor) -> Tensor:
        return self.net(image, table, mask)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        image, table, mask, y = batch
        return F.cross_entropy(self(image, table, mask), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        image, table, mask, y = batch
        self.log("val_loss", F.cross_entropy(self(image, table, mask), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def split_batch(batch: Any) -> tuple[tuple[Tensor, Tensor], Tensor, tuple[Tensor]]:
    image, table, mask, y = batch
    return (image, table), y, (mask,)


def loaders() -> tuple[DataLoader, DataLoader]:
    x, y = digits_tensors(160)
    table = torch.stack([x[:, 0, :4].mean((1, 2)), x[:, 0, 4:].mean((1, 2)), x.std((1, 2, 3)),
                         y.float() / 10], dim=1)  # fmt: skip
    mask = torch.ones_like(table)
    mask[::3, 3] = 0  # every third sample hides the feature that gives the label away
    sets = [TensorDataset(x[s], table[s], mask[s], y[s]) for s in (slice(0, 128), slice(128, None))]
    return DataLoader(sets[0], batch_size=32, shuffle=True), DataLoader(sets[1], batch_size=32)
