"""Threads and chunk sizes chosen in the run: the caller's threads restored, results equal."""

from __future__ import annotations

import time

import pytest
import pytorch_lightning as pl
import torch
from captum.attr import IntegratedGradients, Occlusion
from torch import nn

from lightning_xai import AttributionMonitor
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.methods.chunking import CHUNK_BYTES, widest_layer_bytes
from lightning_xai.methods.threads import ThreadTuner
from tests.support.helpers import DigitsData, LitClassifier, TinyConvNet, make_trainer


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _threads_per_pass(model: nn.Module) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    seen: list[int] = []
    handle = model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    return seen, handle


def test_a_trial_runs_a_whole_call_on_one_thread_elsewhere_and_the_caller_is_untouched(
    two_threads,
) -> None:
    """The second call is a trial: all its passes on the one-thread worker (not the caller's
    thread, whose count is never set); a call never mixes settings."""
    net = TinyConvNet().eval()
    x = torch.randn(4, 1, 8, 8)
    method = ConfiguredMethod("IntegratedGradients", {"internal_batch_size": 8})
    method.bind(net)
    seen, handle = _threads_per_pass(net)
    callers = []
    for _ in range(3):
        method.attribute(x, torch.zeros(4, dtype=torch.long))
        callers.append(torch.get_num_threads())
    handle.remove()
    assert len(seen) == 75  # 50 steps x 4 rows / 8 per pass, three calls
    assert set(seen[:25]) == {2} and set(seen[25:50]) == {1}
    assert len(set(seen[50:])) == 1  # a whole call at one setting (a trial again, or not)
    assert callers == [2, 2, 2] and method.threads.trials >= 1
    assert ThreadTuner.of(net) is method.threads  # shared by the methods of one model


def test_an_error_on_the_one_thread_worker_reaches_the_caller(two_threads) -> None:
    net = TinyConvNet().eval()
    tuner = ThreadTuner.of(net)
    tuner.choice = 1

    def boom() -> None:
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        tuner.run(net, "k", boom)
    assert torch.get_num_threads() == 2
    assert tuner.run(net, "k", lambda: torch.is_grad_enabled()) is True  # caller's grad mode
    with torch.no_grad():
        assert tuner.run(net, "k", lambda: torch.is_grad_enabled()) is False


def test_chunks_sized_by_bytes_and_probe_split_when_a_row_is_large() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 256, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(256, 3)).eval()  # fmt: skip
    x = torch.randn(6, 1, 64, 64)
    widest = widest_layer_bytes(net, lambda m: m(x[:1]))
    assert widest == 256 * 64 * 64 * 4  # 4 MiB per row: 2 rows per pass
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    for name, expect in (
        ("IntegratedGradients", lambda: IntegratedGradients(net).attribute(
            x, target=target, n_steps=4)),
        ("Occlusion", lambda: Occlusion(net).attribute(
            x, sliding_window_shapes=(1, 32, 32), strides=(1, 32, 32), target=target)),
    ):  # fmt: skip
        options = {"n_steps": 4} if name == "IntegratedGradients" else {}
        window = {"sliding_window_shapes": (1, 32, 32), "strides": (1, 32, 32)}
        options |= window if name == "Occlusion" else {}
        method = ConfiguredMethod(name, options)
        method.bind(net)
        rows = []
        handle = net.register_forward_pre_hook(lambda _m, a, rows=rows: rows.append(len(a[0])))
        got = method.attribute(x, target)
        handle.remove()
        assert (
            method.tuner.choices == {tuple(x.shape): CHUNK_BYTES // widest} == {(6, 1, 64, 64): 2}
        )
        assert max(rows) <= 2  # the probe went in groups of 2 samples
        torch.testing.assert_close(got, expect(), atol=1e-5, rtol=1e-4)


class _ThreadsSeen(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_train_batch_start(self, *args: object) -> None:
        self.seen.append(torch.get_num_threads())


def test_training_threads_untouched_by_monitor_runs(tmp_path, two_threads) -> None:
    seen = _ThreadsSeen()
    monitor = AttributionMonitor(
        methods={"IntegratedGradients": {"n_steps": 16, "internal_batch_size": 16}},
        num_probes=8,
    )
    make_trainer(tmp_path, [monitor, seen], max_epochs=2).fit(
        LitClassifier(), datamodule=DigitsData()
    )
    assert monitor.methods[0].threads.trials >= 1
    assert set(seen.seen) == {2} and torch.get_num_threads() == 2


def test_a_trial_is_due_when_the_load_changes_the_way_that_favours_the_other_count() -> None:
    tuner = ThreadTuner()
    tuner._remember("k", 0.01, one=False)
    tuner._remember("k", 0.01, one=False)
    assert "k" not in tuner._due
    tuner._remember("k", 0.05, one=False)  # busy: try one thread
    assert "k" in tuner._due
    tuner._due.clear()
    tuner._remember("k", 0.2, one=True)
    tuner._remember("k", 0.3, one=True)  # busier on one: stay
    assert "k" not in tuner._due
    tuner._remember("k", 0.05, one=True)  # quiet again: try all
    assert "k" in tuner._due


class _Slower(nn.Module):
    """A pass sleeps 20 ms on one thread and ``factor`` times that on more (a busy core)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.lin = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.02 * (1 if torch.get_num_threads() == 1 else self.factor))
        return self.lin(x)


@pytest.mark.parametrize("factor", [1.6, 4.0])
def test_one_thread_chosen_narrowly_is_tried_again_at_the_next_call(two_threads, factor) -> None:
    """One thread 1.6x faster: perhaps a passing load, the next call tries all threads
    again; 4x faster: a busy core, the next trial waits ``every`` calls."""
    net = _Slower(factor)
    method = ConfiguredMethod("IntegratedGradients", {"n_steps": 8, "internal_batch_size": 4})
    method.bind(net)
    x, target = torch.randn(4, 2), torch.zeros(4, dtype=torch.long)
    method.attribute(x, target)  # all threads
    method.attribute(x, target)  # the trial: one thread wins
    assert method.threads.choice == 1
    seen, handle = _threads_per_pass(net)
    method.attribute(x, target)
    handle.remove()
    assert set(seen) == ({2} if factor < 2 else {1})
    assert method.threads.choice == 1 and torch.get_num_threads() == 2


def test_compute_heavy_models_get_larger_passes_than_their_bytes_alone() -> None:
    """Rows by bytes, times the FLOPs per byte of layer output over the seed ConvNet's: 64
    channels of 3x3 convolutions do ~6x its work per byte (ResNet-18: ~5x), so their passes
    hold ~6x the bytes; a memory-bound model keeps :data:`CHUNK_BYTES`."""
    from lightning_xai.methods.chunking import REFERENCE_INTENSITY, ChunkTuner, layer_survey

    heavy = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()).eval()
    x = torch.randn(4, 64, 16, 16)
    widest, intensity = layer_survey(heavy, lambda m: m(x[:1]))
    assert widest == 64 * 16 * 16 * 4 and intensity == pytest.approx((2 * 64 * 9 + 1) / 8)
    rows = ChunkTuner().sized(heavy, x, lambda m: m(x[:1]))
    assert (
        rows
        == int(CHUNK_BYTES * intensity / REFERENCE_INTENSITY // widest)
        > 5 * (CHUNK_BYTES // widest)
    )
    light = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()).eval()
    small = torch.randn(4, 1, 64, 64)
    assert ChunkTuner().sized(light, small, lambda m: m(small[:1])) == CHUNK_BYTES // (
        4 * 64 * 64 * 4
    )


def test_trials_that_all_threads_lose_clearly_come_ever_less_often(two_threads) -> None:
    """A busy machine (all threads 4x slower), and a change of load seen at every call:
    the trial at call 1 chooses one thread; the next (call 2) runs on all threads, which
    lose by 2x or more, so the next comes 16 calls later (twice ``every``), and no change
    of load starts one in between."""
    net = _Slower(4.0)
    method = ConfiguredMethod("IntegratedGradients", {"n_steps": 4, "internal_batch_size": 4})
    method.bind(net)
    x, target = torch.randn(4, 2), torch.zeros(4, dtype=torch.long)
    trials = []
    for call in range(24):
        before = method.threads.trials
        method.threads._due.add(("IntegratedGradients", (4, 2)))  # as if the load changed
        method.attribute(x, target)
        if method.threads.trials > before:
            trials.append(call)
    assert trials == [1, 2, 18] and method.threads.choice == 1


def test_each_input_shape_has_its_own_trials(two_threads) -> None:
    """Rows of another size cost another time per row: a new shape is a new key, whose
    first call is not a trial (it would compare with the other shape's time), its second is."""
    net = TinyConvNet().eval()
    method = ConfiguredMethod("Saliency")
    method.bind(net)
    small, large = torch.randn(4, 1, 8, 8), torch.randn(6, 1, 8, 8)
    trials = []
    for x in (small, large, small, large):
        before = method.threads.trials
        method.attribute(x, torch.zeros(len(x), dtype=torch.long))
        trials.append(method.threads.trials - before)
    assert trials == [0, 0, 1, 1]
