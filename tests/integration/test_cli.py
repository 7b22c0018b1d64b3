"""Both LightningCLIs (``pytorch_lightning`` and ``lightning.pytorch``) take every monitor from
YAML and from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from example_trainers.models import TinyViT
from lightning_xai import AttentionMonitor, AttributionMonitor, FeatureMapMonitor
from tests.support.helpers import digits_tensors, read_events

pytestmark = pytest.mark.slow

YAML = """
trainer:
  max_epochs: 1
  limit_train_batches: 2
  limit_val_batches: 1
  num_sanity_val_steps: 0
  enable_progress_bar: false
  enable_model_summary: false
  enable_checkpointing: false
  logger:
    class_path: {package}.loggers.TensorBoardLogger
    init_args: {{save_dir: {root}, name: cli, version: 0}}
  callbacks:
    - class_path: lightning_xai.AttributionMonitor
      init_args:
        methods:
          Saliency: null
          LayerGradCam: {{layer: net.patches}}
        num_probes: 2
    - class_path: lightning_xai.FeatureMapMonitor
      init_args: {{activation: {activation}, num_probes: 2}}
    - class_path: lightning_xai.AttentionMonitor
      init_args: {{num_probes: 2, samples: [0]}}
"""


def _classes(package: str) -> tuple[type, type]:
    """A tiny ViT on 8x8 digits (a Conv2d patch layer and nn.MultiheadAttention layers) and
    its data, as ``package``'s LightningModule and LightningDataModule (each CLI checks that
    they are its own)."""
    lightning = pytest.importorskip(package)

    class ViTClassifier(lightning.LightningModule):
        def __init__(self, lr: float = 0.01) -> None:
            super().__init__()
            self.lr = lr
            self.net = TinyViT(1, 10, image_size=8, patch=2, dim=16, depth=1, heads=2)

        def forward(self, x: Tensor) -> Tensor:
            return self.net(x)

        def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            return F.cross_entropy(self(batch[0]), batch[1])

        def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
            self.log("val_loss", F.cross_entropy(self(batch[0]), batch[1]))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    class Digits(lightning.LightningDataModule):
        def __init__(self, batch_size: int = 32) -> None:
            super().__init__()
            self.data = TensorDataset(*digits_tensors(128))
            self.batch_size = batch_size

        def train_dataloader(self) -> DataLoader:
            return DataLoader(self.data, batch_size=self.batch_size)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(self.data, batch_size=self.batch_size)

    return ViTClassifier, Digits


@pytest.mark.parametrize(
    ("package", "activation", "expected"),
    [
        ("pytorch_lightning", "relu", "relu"),
        ("lightning.pytorch", "torch.sigmoid", "sigmoid"),
        ("lightning.pytorch", "null", None),
    ],
)
def test_both_clis_take_every_monitor_from_yaml(
    tmp_path: Path, package: str, activation: str, expected: str | None
) -> None:
    cli_module = pytest.importorskip(f"{package}.cli")
    config = tmp_path / "config.yaml"
    config.write_text(YAML.format(package=package, root=tmp_path, activation=activation))
    cli = cli_module.LightningCLI(*_classes(package), args=["fit", "--config", str(config)])
    callbacks = {type(c): c for c in cli.trainer.callbacks}
    monitors = [callbacks[k] for k in (AttributionMonitor, FeatureMapMonitor, AttentionMonitor)]
    assert all(m.runs == 1 and not m.errors for m in monitors)
    activation_fn = callbacks[FeatureMapMonitor].activation
    assert (activation_fn and activation_fn.__name__) == expected
    tags = read_events(tmp_path / "cli" / "version_0").Tags()
    assert "xai/attributions/layer_grad_cam/sample_01" in tags["images"]
    assert "xai/filters/net.patches" in tags["images"]
    assert "xai/attention/net.encoder.layers.0.self_attn/sample_00" in tags["images"]


def test_the_command_line_adds_monitors_with_their_defaults(tmp_path: Path) -> None:
    """``--trainer.callbacks+=`` with defaults: jsonargparse writes FeatureMapMonitor's
    default ``activation`` as the string 'torch.relu'."""
    cli_module = pytest.importorskip("lightning.pytorch.cli")
    args = [
        "fit",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_checkpointing=false",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.callbacks+=lightning_xai.FeatureMapMonitor",
        "--trainer.callbacks.num_probes=2",
        "--trainer.callbacks+=lightning_xai.AttentionMonitor",
        "--trainer.callbacks.samples=[0]",
        "--trainer.callbacks+=lightning_xai.AttributionMonitor",
        "--trainer.callbacks.methods=[Saliency]",
    ]
    cli = cli_module.LightningCLI(*_classes("lightning.pytorch"), args=args)
    monitors = [c for c in cli.trainer.callbacks if isinstance(c, FeatureMapMonitor)]
    assert monitors[0].activation.__name__ == "relu" and monitors[0].runs == 1
    assert all(
        c.runs == 1 and not c.errors
        for c in cli.trainer.callbacks
        if isinstance(c, AttentionMonitor | AttributionMonitor | FeatureMapMonitor)
    )
