from __future__ import annotations

from pathlib import Path

import pytest
import torch

from example_trainers import digits
from lightning_xai.methods import snake_case
from tests.support.helpers import read_events


def test_smoke_run_logs_every_method(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    digits.main(["--smoke", "--num-probes", "2", "--log-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {tmp_path}" in out
    events = read_events(tmp_path / "digits" / "version_0")
    images = set(events.Tags()["images"])
    for method in digits.METHODS:
        assert f"xai/attributions/{snake_case(method)}/sample_01" in images
    assert "xai/panels/sample_00" in images
    assert {
        "xai/filters/net.cn1",
        "xai/filters/net.cn2",
        "xai/feature_maps/net.cn2/sample_01",
    } <= images


@pytest.mark.slow
def test_demo_reaches_90_percent_and_ends_with_the_tensorboard_command(
    tmp_path: Path, capsys: pytest.CaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    """The demo also keeps the console clean: no warning twice (recwarn shows every
    repetition), none about its own model (DeepLift on log_softmax, max_unpool2d)."""
    # As in a fresh process: another test's Trainer(deterministic=True) leaves torch's global
    # flag set, which the demo (on purpose) does not set.
    monkeypatch_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        metrics = digits.main(["--log-dir", str(tmp_path)])
    finally:
        torch.use_deterministic_algorithms(monkeypatch_deterministic)
    assert metrics["val_acc"] > 0.9
    out = capsys.readouterr().out.rstrip()
    assert f"tensorboard --logdir {tmp_path}\n" in out and "open the XAI tab" in out
    assert out.endswith("--samples_per_plugin images=0.")
    messages = [f"{w.category.__name__}: {w.message}" for w in recwarn]
    assert not [m for m in messages if messages.count(m) > 1], messages
    assert not [m for m in messages if "DeepLift" in m or "deterministic" in m], messages
    assert not [m for m in messages if "Monitor" in m], messages  # nothing of ours to act on
