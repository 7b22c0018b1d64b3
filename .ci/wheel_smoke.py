"""Wheel smoke test (run by .ci/run from outside the repository, in a fresh virtual
environment holding only the built wheel): a short fit with every monitor, read back."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing import event_accumulator as ea
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lightning_xai
from lightning_xai import AttentionMonitor, AttributionMonitor, FeatureMapMonitor


class Net(pl.LightningModule):
    """Conv patches of an 8x8 image, one attention layer, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.patches = nn.Conv2d(1, 8, 2, stride=2)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patches(x).flatten(2).transpose(1, 2)
        mixed, _ = self.attention(tokens, tokens, tokens)
        return self.head(mixed.mean(1))

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return F.cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", F.cross_entropy(self(batch[0]), batch[1]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main() -> None:
    here = Path(lightning_xai.__file__).resolve()
    assert Path(sys.prefix).resolve() in here.parents, f"not the wheel's copy: {here}"
    root = Path(tempfile.mkdtemp())
    data = TensorDataset(torch.rand(32, 1, 8, 8), torch.randint(0, 3, (32,)))
    monitors = [
        AttributionMonitor(
            methods={"IntegratedGradients": {"n_steps": 8}, "LayerGradCam": {"layer": "patches"}},
            num_probes=2,
        ),
        FeatureMapMonitor(num_probes=2),
        AttentionMonitor(num_probes=2),
    ]
    trainer = pl.Trainer(
        max_epochs=1,
        logger=TensorBoardLogger(str(root), name="smoke", version=0),
        callbacks=list(monitors),  # the Trainer adds its own to the list it is given
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    trainer.fit(Net(), DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    folder = str(root / "smoke" / "version_0")
    events = ea.EventAccumulator(folder, size_guidance=ea.STORE_EVERYTHING_SIZE_GUIDANCE)
    images = set(events.Reload().Tags()["images"])
    for tag in (
        "xai/attributions/layer_grad_cam/sample_01",
        "xai/filters/patches",
        "xai/attention/attention/sample_00",
    ):
        assert tag in images, (tag, sorted(images))
    assert all(m.runs == 1 and not m.errors for m in monitors)
    print(f"wheel smoke test passed: lightning_xai from {here.parent}")


if __name__ == "__main__":
    main()
