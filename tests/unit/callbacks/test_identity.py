"""A monitor's checkpoint identity survives configuration changes; old checkpoints still load."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from lightning_xai import AttributionMonitor
from tests.support.helpers import DigitsData, LitClassifier, make_trainer


def _first_epoch(tmp_path: Path) -> tuple[AttributionMonitor, Path]:
    monitor = AttributionMonitor(methods=["Saliency"], metrics=["drift"], num_probes=3)
    trainer = make_trainer(tmp_path, [monitor], max_epochs=1, limit_train_batches=2)
    trainer.fit(LitClassifier(), datamodule=DigitsData())
    trainer.save_checkpoint(tmp_path / "one.ckpt")
    return monitor, tmp_path / "one.ckpt"


def _resume(tmp_path: Path, monitor: AttributionMonitor, ckpt: Path) -> list[str]:
    trainer = make_trainer(tmp_path, [monitor], max_epochs=2, limit_train_batches=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(LitClassifier(), datamodule=DigitsData(n_val=120), ckpt_path=ckpt)
    return [str(w.message) for w in caught]


def test_a_resume_with_other_methods_keeps_the_probe_and_drift_reference(tmp_path: Path) -> None:
    before, ckpt = _first_epoch(tmp_path)
    reference = before.metrics.state_dict()["first"]["Saliency"].clone()
    after = AttributionMonitor(
        methods={"Saliency": None, "IntegratedGradients": {"n_steps": 4}},
        metrics=["drift"], num_probes=3, view="heat_map",
    )  # fmt: skip
    assert after.state_key != before.state_key  # not set up yet: unique per instance
    texts = _resume(tmp_path, after, ckpt)
    assert after.state_key == before.state_key  # class, name, position
    # Another validation set (n_val=120): only the checkpoint can give back the same probe.
    assert torch.equal(after.probe.inputs, before.probe.inputs)
    assert torch.equal(after.metrics.state_dict()["first"]["Saliency"], reference)
    assert after.runs == 2 and set(after.latest) == {"Saliency", "IntegratedGradients"}
    said = [t for t in texts if "resumed from a checkpoint" in t]
    assert said == [
        "AttributionMonitor: resumed from a checkpoint made with another configuration "
        "(`methods` ['Saliency'] -> ['Saliency', 'IntegratedGradients']); its probe, run count "
        "and references (drift) carry over."
    ]
    assert not [t for t in texts if "callbacks used to create the checkpoint" in t]


def test_a_checkpoint_keyed_by_the_old_configuration_key_still_loads(tmp_path: Path) -> None:
    before, ckpt = _first_epoch(tmp_path)
    checkpoint = torch.load(ckpt, weights_only=True)
    (state,) = checkpoint["callbacks"].values()
    del state["config"]  # as written before the configuration was stored
    old = "AttributionMonitor{'num_probes': 3, 'probe_seed': 0, 'methods': ['Saliency']}"
    checkpoint["callbacks"] = {old: state}
    torch.save(checkpoint, tmp_path / "old.ckpt")
    after = AttributionMonitor(methods=["Saliency"], metrics=["drift"], num_probes=3)
    _resume(tmp_path, after, tmp_path / "old.ckpt")
    assert torch.equal(after.probe.inputs, before.probe.inputs) and after.runs == 2


def test_named_monitors_keep_their_own_state(tmp_path: Path) -> None:
    first = AttributionMonitor(methods=["Saliency"], num_probes=2, probe_seed=1, name="a")
    second = AttributionMonitor(methods=["Saliency"], num_probes=2, probe_seed=2, name="b")
    trainer = make_trainer(tmp_path, [first, second], max_epochs=1, limit_train_batches=1)
    trainer.fit(LitClassifier(), datamodule=DigitsData())
    trainer.save_checkpoint(tmp_path / "ab.ckpt")
    # Given in the other order and with other methods: the names find their states.
    again = [
        AttributionMonitor(methods=["InputXGradient"], num_probes=2, name="b"),
        AttributionMonitor(methods=["InputXGradient"], num_probes=2, name="a"),
    ]
    make_trainer(tmp_path, again, max_epochs=2, limit_train_batches=1).fit(
        LitClassifier(), datamodule=DigitsData(), ckpt_path=tmp_path / "ab.ckpt"
    )
    assert torch.equal(again[0].probe.inputs, second.probe.inputs)
    assert torch.equal(again[1].probe.inputs, first.probe.inputs)
