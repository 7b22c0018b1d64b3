"""A tiny tabular regression set-up: scikit-learn's diabetes data and an MLP, as in seed 004."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset


def diabetes_tensors() -> tuple[Tensor, Tensor, list[str]]:
    """442 x 10 standardised features, standardised targets, the feature names."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x = torch.tensor(data.data, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.float32)
    return (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std(), list(data.feature_names)


class LitRegressor(pl.LightningModule):
    """[N, 10] -> [N]: Linear-ReLU-Linear-ReLU-Linear with ReLU modules; ``net.2`` has 8 units."""

    def __init__(self, features: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).ravel()

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        return F.mse_loss(self(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-2)


class DiabetesData(pl.LightningDataModule):
    def __init__(self, n_train: int = 300, batch_size: int = 32) -> None:
        super().__init__()
        x, y, self.feature_names = diabetes_tensors()
        self.train_set = TensorDataset(x[:n_train], y[:n_train])
        self.val_set = TensorDataset(x[n_train:], y[n_train:])
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)
