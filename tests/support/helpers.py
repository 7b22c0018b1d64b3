"""Tiny seeded models and data, a real Trainer factory, and reading back what was logged
(event files, pictures, report pages, screenshots). The fixtures are in tests/conftest.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing import event_accumulator as ea
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_xai.render.grid import SEPARATOR


class TinyConvNet(nn.Module):
    """[N, 1, 8, 8] -> [N, 10] logits; separate ReLU modules, dropout, BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.relu2 = nn.ReLU()
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu2(self.conv2(self.relu1(self.bn(self.conv1(x)))))
        return self.fc(self.drop(x.flatten(1)))


class LitClassifier(pl.LightningModule):
    def __init__(self, net: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net or TinyConvNet()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def digits_tensors(limit: int | None = None) -> tuple[Tensor, Tensor]:
    """scikit-learn's digits as [N, 1, 8, 8] in [0, 1] and labels [N]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)[:limit] / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)[:limit]
    return x, y


class DigitsData(pl.LightningDataModule):
    def __init__(self, n_train: int = 256, n_val: int = 96, batch_size: int = 32) -> None:
        super().__init__()
        x, y = digits_tensors(n_train + n_val)
        self.train_set = TensorDataset(x[:n_train], y[:n_train])
        self.val_set = TensorDataset(x[n_train:], y[n_train:])
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


def make_trainer(
    root: Path, callbacks: list[pl.Callback], logger: Any = True, **kwargs: Any
) -> pl.Trainer:
    if logger is True:
        logger = TensorBoardLogger(str(root), name="tb", version=0)
    options: dict[str, Any] = {
        "max_epochs": 2,
        "limit_train_batches": 4,
        "limit_val_batches": 2,
        "num_sanity_val_steps": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "default_root_dir": str(root),
        "accelerator": "cpu",
        "deterministic": True,
    }
    options.update(kwargs)
    return pl.Trainer(logger=logger, callbacks=callbacks, **options)


def read_events(log_dir: Path | str) -> ea.EventAccumulator:
    acc = ea.EventAccumulator(str(log_dir), size_guidance=ea.STORE_EVERYTHING_SIZE_GUIDANCE)
    acc.Reload()
    return acc


def decode_image(event: Any) -> Tensor:
    """An image event as [H, W, 3] uint8."""
    import io

    import numpy as np
    from PIL import Image

    return torch.from_numpy(
        np.array(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
    )


class TinyPatchNet(nn.Module):
    """[N, 1, 8, 8] -> 4 patches of 4x4 and a CLS token -> one attention layer -> 10 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.patches = nn.Conv2d(1, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.zeros(1, 1, 8))
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 10)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patches(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
        out, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return self.head(F.relu(out[:, 0]))


def count_tiles(image: Tensor) -> tuple[int, int, int]:
    """(rows, columns, tiles) of a grid picture, found from its separator colour alone.

    Args:
        image: ``[3, H, W]`` float in [0, 1], or ``[H, W, 3]`` uint8 read back from a PNG.
    """
    if image.dtype == torch.uint8:
        image = image.permute(2, 0, 1).float() / 255
    colour = torch.tensor(SEPARATOR).reshape(3, 1, 1)
    separator = ((image - colour).abs() <= 1.5 / 255).all(dim=0)  # [H, W]

    def bands(full: Tensor) -> list[tuple[int, int]]:
        found, start = [], None
        for i, is_separator in enumerate([*full.tolist(), True]):
            if not is_separator and start is None:
                start = i
            elif is_separator and start is not None:
                found.append((start, i))
                start = None
        return found

    rows, cols = bands(separator.all(dim=1)), bands(separator.all(dim=0))
    tiles = sum(not bool(separator[r0:r1, c0:c1].all()) for r0, r1 in rows for c0, c1 in cols)
    return len(rows), len(cols), tiles


def embedded(page: Path) -> Any:
    """The data a report page carries (what its script draws from)."""
    found = re.search(
        r'<script type="application/json" id="xai-data">(.*?)</script>', page.read_text(), re.S
    )
    assert found is not None, f"{page} carries no data"
    return json.loads(found[1])


def heat_pixels(path: Path) -> int:
    """Pixels in the green of positive attributions: TensorBoard's own page is orange,
    white, grey and link-blue, never green."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((g > r + 40) & (g > b + 20)).sum())
