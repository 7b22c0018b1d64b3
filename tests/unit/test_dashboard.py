"""The XAI tab without a Trainer: the plugin's activity and the log store's incremental reads.
The routes over a real fit and the browser are in tests/integration/test_dashboard.py."""

from __future__ import annotations

from pathlib import Path

from tensorboard.plugins import base_plugin

from lightning_xai.dashboard import LogStore
from lightning_xai.dashboard.plugin import XaiPlugin
from lightning_xai.tags import TAGS


def test_the_tab_is_inactive_without_xai_data(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    plugin = XaiPlugin(base_plugin.TBContext(logdir=str(tmp_path)))
    assert not plugin.is_active()
    with SummaryWriter(str(tmp_path / "plain")) as writer:
        writer.add_scalar("loss", 1.0, 0)
    plugin.store.refresh(force=True)
    assert not plugin.is_active()


def test_the_store_reads_what_is_appended(tmp_path: Path) -> None:
    import torch
    from torch.utils.tensorboard import SummaryWriter

    store = LogStore(tmp_path, max_age=0)
    writer = SummaryWriter(str(tmp_path / "run"))
    writer.add_image("xai/panels/sample_00", torch.rand(3, 4, 4), 5)
    writer.add_scalar(TAGS["epoch"](), 0.0, 5)
    writer.flush()
    assert sorted(store.run("run").images["xai/panels/sample_00"]) == [5]
    writer.add_image("xai/panels/sample_00", torch.rand(3, 4, 4), 9)
    writer.add_scalar(TAGS["epoch"](), 1.0, 9)
    writer.close()
    log = store.run("run")
    assert sorted(log.images["xai/panels/sample_00"]) == [5, 9]
    assert log.scalars[TAGS["epoch"]()] == {5: 0.0, 9: 1.0}
    assert store.run("run") is log and len(log.images) == 1  # read once, nothing twice
