"""Data that ships offline: scikit-learn's handwritten digits as 28x28 MNIST look-alikes."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["DigitsDataModule"]


class DigitsDataModule(pl.LightningDataModule):
    """scikit-learn's 1,797 handwritten digits (8x8), upsampled to ``[1, 28, 28]`` and
    normalised with the training split's mean and std; a seeded 80/20 train/val split.

    Attributes ``mean`` and ``std`` give the normalisation (for ``denormalize=``).
    """

    def __init__(self, batch_size: int = 64, seed: int = 0, size: int = 28) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seed = seed
        self.size = size
        self.mean = 0.0
        self.std = 1.0

    def setup(self, stage: str | None = None) -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        images = F.interpolate(images, size=(self.size, self.size), mode="bilinear")
        labels = torch.tensor(digits.target, dtype=torch.long)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.seed))
        cut = int(0.8 * len(order))
        train, val = order[:cut], order[cut:]
        self.mean, self.std = images[train].mean().item(), images[train].std().item()
        images = (images - self.mean) / self.std
        self.train_set = TensorDataset(images[train], labels[train])
        self.val_set = TensorDataset(images[val], labels[val])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()
