"""The examples' data: scikit-learn's digits and tables (offline); MNIST, CIFAR-10, FakeData."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["DigitsDataModule", "SplitDataModule", "TabularDataModule", "VisionDataModule"]


class SplitDataModule(pl.LightningDataModule):
    """Serves ``train_set`` and ``val_set`` (set in ``setup``); the test split is the
    validation split. Subclasses set ``batch_size`` (and may set ``val_batch_size``)."""

    batch_size = 64
    val_batch_size = 256
    train_set: Any
    val_set: Any

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


class DigitsDataModule(SplitDataModule):
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


# name -> (torchvision class, shape, per-channel mean, std of the training split)
_VISION: dict[str, tuple[str, tuple[int, int, int], tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ("MNIST", (1, 28, 28), (0.1307,), (0.3081,)),
    "cifar10": ("CIFAR10", (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class VisionDataModule(SplitDataModule):
    """MNIST or CIFAR-10 from torchvision (the test split validates), or FakeData of their shape.

    The real data sets are read from ``data_dir`` and downloaded there when missing and
    ``download`` is on. ``fake=True`` uses torchvision's ``FakeData`` (noise images with random
    labels, nothing to download: the pipeline runs, the model learns nothing).

    Args:
        name: ``"mnist"`` or ``"cifar10"``.
        data_dir: where the data set lives (torchvision's layout, e.g. ``<dir>/MNIST/raw``).
        fake: FakeData of the same shape instead of the real images.
        download: download when the files are missing.
        batch_size: training batch size.
        val_batch_size: validation batch size.
        image_size: resize images to this side (e.g. 224 for ImageNet weights); default: as is.
        mean: per-channel normalisation mean; default: the data set's.
        std: per-channel normalisation std; default: the data set's.
        fake_sizes: ``(train, val)`` sample counts of FakeData.

    Raises:
        FileNotFoundError: in ``setup``, when the files are missing and cannot be downloaded.
    """

    def __init__(
        self,
        name: str,
        data_dir: str | Path = "data",
        *,
        fake: bool = False,
        download: bool = True,
        batch_size: int = 64,
        val_batch_size: int = 256,
        image_size: int | None = None,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        fake_sizes: tuple[int, int] = (2048, 512),
    ) -> None:
        super().__init__()
        if name not in _VISION:
            raise ValueError(
                f"VisionDataModule: `name` must be one of {list(_VISION)}, got {name!r}."
            )
        self.title, self.shape, default_mean, default_std = _VISION[name]
        self.data_dir = Path(data_dir)
        self.fake = fake
        self.download = download
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.image_size = image_size
        self.mean = mean or default_mean
        self.std = std or default_std
        self.fake_sizes = fake_sizes
        self.train_set: Any = None
        self.val_set: Any = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        from torchvision import datasets, transforms

        steps: list[Callable[..., Any]] = [transforms.ToTensor()]
        if self.image_size is not None:
            steps.append(transforms.Resize(self.image_size, antialias=True))
        steps.append(transforms.Normalize(self.mean, self.std))
        transform = transforms.Compose(steps)
        if self.fake:
            train, val = self.fake_sizes
            fake = datasets.FakeData
            self.train_set = fake(train, self.shape, 10, transform)
            self.val_set = fake(val, self.shape, 10, transform, random_offset=train)
            return
        dataset = getattr(datasets, self.title)
        try:
            self.train_set = dataset(self.data_dir, True, transform, download=self.download)
            self.val_set = dataset(self.data_dir, False, transform, download=self.download)
        except (RuntimeError, OSError) as err:  # missing (download off) or download failed
            how = "could not be downloaded" if self.download else "downloading is off"
            raise FileNotFoundError(
                f"{self.title} is not under {self.data_dir} and {how}: {err}"
            ) from err


# name -> (scikit-learn loader, task); California housing is downloaded (fetch_*), once.
_TABLES = {
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "california": ("fetch_california_housing", "regression"),
}


class TabularDataModule(SplitDataModule):
    """A scikit-learn table: features standardised with the training split's statistics, a
    seeded 80/20 train/val split. Regression targets are standardised too (predictions and
    attributions are in target standard deviations).

    Args:
        name: ``"breast_cancer"`` (30 features, 2 classes), ``"diabetes"`` (10 features,
            regression) or ``"california"`` (8 features, regression; scikit-learn downloads it).
        data_dir: scikit-learn's data home for downloads (default: its own).
        batch_size: training batch size.
        seed: seed of the split.

    Attributes ``feature_names``, ``task`` (``"classification"`` or ``"regression"``) and
    ``num_outputs`` describe the table.
    """

    def __init__(
        self, name: str, data_dir: str | None = None, batch_size: int = 32, seed: int = 0
    ) -> None:
        super().__init__()
        if name not in _TABLES:
            raise ValueError(
                f"TabularDataModule: `name` must be one of {list(_TABLES)}, got {name!r}."
            )
        self.name = name
        self.loader, self.task = _TABLES[name]
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.seed = seed
        self.feature_names: list[str] = []
        self.num_outputs = 0
        self.train_set: Any = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        import sklearn.datasets

        load = getattr(sklearn.datasets, self.loader)
        table = load(data_home=self.data_dir) if self.loader.startswith("fetch") else load()
        x = torch.tensor(table.data, dtype=torch.float32)
        classes = self.task == "classification"
        y = torch.tensor(table.target, dtype=torch.long if classes else torch.float32)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.seed))
        train, val = order[: int(0.8 * len(y))], order[int(0.8 * len(y)) :]
        x = (x - x[train].mean(dim=0)) / x[train].std(dim=0)
        if not classes:
            y = (y - y[train].mean()) / y[train].std()
        self.feature_names = [str(n) for n in table.feature_names]
        self.num_outputs = int(y.max()) + 1 if classes else 1
        self.train_set = TensorDataset(x[train], y[train])
        self.val_set = TensorDataset(x[val], y[val])
