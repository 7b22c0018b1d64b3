from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_xai import AttributionMonitor
from tests.support.helpers import read_events

CONFIG = Path(__file__).parents[2] / "example_trainers" / "configs" / "digits.yaml"


def test_lightning_cli_fit_with_the_example_config(tmp_path: Path) -> None:
    from example_trainers.cli import main

    cli = main(
        [
            "fit",
            "--config",
            str(CONFIG),
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1",
            "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
        ]
    )
    (monitor,) = [c for c in cli.trainer.callbacks if isinstance(c, AttributionMonitor)]
    assert [m.key for m in monitor.methods] == [
        "IntegratedGradients",
        "Saliency",
        "LayerGradCam",
        "smoothgrad",
    ]
    assert monitor.methods[0].attribute_kwargs["n_steps"] == 32
    assert monitor.methods[3].noise_tunnel["nt_type"] == "smoothgrad_sq"
    images = read_events(tmp_path / "digits_cli" / "version_0").Tags()["images"]
    assert {f"xai/attributions/{t}/sample_07" for t in ("smoothgrad", "layer_grad_cam")} <= set(
        images
    )


def test_the_lightning_namespace_trainer(tmp_path: Path) -> None:
    lightning = pytest.importorskip("lightning.pytorch")

    class Net(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.fc = torch.nn.Linear(72, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).flatten(1))

        def training_step(self, batch, batch_idx):
            return F.cross_entropy(self(batch[0]), batch[1])

        def validation_step(self, batch, batch_idx):
            pass

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = TensorDataset(torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,)))
    monitor = AttributionMonitor(methods=["Saliency", "LayerGradCam"], num_probes=2)
    trainer = lightning.Trainer(
        max_epochs=2,
        callbacks=[monitor],
        logger=lightning.loggers.TensorBoardLogger(str(tmp_path), name="l", version=0),
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    trainer.fit(Net(), DataLoader(data, batch_size=5), DataLoader(data, batch_size=5))
    assert monitor.runs == 2 and not monitor.errors
    steps = [
        e.step for e in read_events(tmp_path / "l" / "version_0").Images("xai/panels/sample_01")
    ]
    assert steps == [4, 8]
