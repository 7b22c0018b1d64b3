"""Run by tests/integration/test_distributed.py: `trainer.fit` under `strategy="ddp"` on 2 CPU
ranks.

Lightning's ddp launcher starts this script again for rank 1, so it must be a script. Both
processes run every scenario below in order (the later Trainers reuse the process group), and
each rank writes what it holds under ROOT/<scenario>/, for the test to compare across ranks:

- ``resume``: fit one epoch and save a checkpoint; then a fresh monitor resumes from it on a
  different validation set (one whose own probe would be other samples). Each rank saves
  its probe before and after (``probe_{before,after}_rank<r>.pt``).
- ``budget``: on rank zero, ``max_seconds`` a quarter of what the methods cost in the run
  before (set again after every run, so the next plan is reduced on a machine of any speed,
  and never skipped: the floors cost under an eighth); effectively none on rank one, as if
  the ranks had measured very different times. Rank one must still follow rank zero's reduced
  plan. Each rank saves the plan it followed at every run.
- ``skip``: a budget below the floors on rank zero: runs are skipped and re-measured, on
  both ranks alike.
- ``multi``: ``trainer.validate`` of a multi-input model with an additional forward arg; the
  per-input attributions (a tuple) are sharded and gathered. Rank zero saves the weights and
  ``latest`` (``latest_rank<r>.pt``).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).parents[2]))

from lightning_xai import AttributionMonitor
from tests.support.helpers import DigitsData, LitClassifier, make_trainer
from tests.support.multi_input import LitImageAndTable, loaders, split_batch

FIT = {
    "strategy": "ddp",
    "devices": 2,
    "limit_train_batches": 2,
    "limit_val_batches": 1,
    "num_sanity_val_steps": 0,
}
BUDGET_METHODS = {"IntegratedGradients": {"n_steps": 256}, "Saliency": None}


def _rank() -> int:
    """This process's rank, known before the first Trainer (the launcher sets LOCAL_RANK for
    the child it starts, and for rank zero only when it launches)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


class ProbeSaver(pl.Callback):
    """Saves the monitor's probe (as in its checkpoint state) after each validation run."""

    def __init__(self, monitor: AttributionMonitor, path: str) -> None:
        self.monitor, self.path = monitor, path

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        path = Path(self.path.format(rank=trainer.global_rank))
        torch.save({**self.monitor.probe.state_dict(), "step": trainer.global_step}, path)


class PlanRecorder(pl.Callback):
    """Records, after each validation run, the budget plan this rank followed and the size
    of the whole (gathered) result it holds."""

    def __init__(self, monitor: AttributionMonitor, root: Path) -> None:
        self.monitor, self.root, self.runs = monitor, root, []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        plan = self.monitor.budget.last
        self.runs.append(
            {
                "step": trainer.global_step,
                "probes": plan.probes,
                "overrides": json.loads(json.dumps(plan.overrides)),  # tuples as lists
                "skip": plan.skip,
                "remeasure": plan.remeasure,
                "latest": {k: list(v.shape) for k, v in self.monitor.latest.items()},
            }
        )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        out = {"max_seconds": self.monitor.budget.max_seconds, "runs": self.runs}
        (self.root / f"plans_rank{trainer.global_rank}.json").write_text(json.dumps(out))


class QuarterBudget(pl.Callback):
    """On rank zero, after each run, sets ``max_seconds`` to a quarter of the full-size cost
    just measured: the next plan must reduce (the full run costs 4x the budget) and fits
    without a skip (the floors, 4 of 256 steps on 1 of 8 probes, cost under an eighth)."""

    def __init__(self, monitor: AttributionMonitor) -> None:
        self.monitor = monitor

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.global_rank == 0:
            self.monitor.budget.max_seconds = sum(self.monitor.budget.costs.values()) / 4


def resume(root: Path) -> None:
    def monitor() -> AttributionMonitor:
        return AttributionMonitor(methods={"Saliency": None}, num_probes=5)

    first = monitor()
    saver = ProbeSaver(first, str(root / "probe_before_rank{rank}.pt"))
    trainer = make_trainer(root, [first, saver], max_epochs=1, **FIT)
    trainer.fit(LitClassifier(), datamodule=DigitsData())
    trainer.save_checkpoint(root / "epoch1.ckpt")
    # Validation samples 352..447 instead of 256..351: a fresh probe would be other samples.
    again = monitor()
    saver = ProbeSaver(again, str(root / "probe_after_rank{rank}.pt"))
    trainer = make_trainer(root, [again, saver], max_epochs=2, **FIT)
    trainer.fit(LitClassifier(), datamodule=DigitsData(n_train=352), ckpt_path=root / "epoch1.ckpt")


def budget(root: Path, max_seconds: float | None, methods: dict, probes: int, epochs: int) -> None:
    """``max_seconds`` on rank zero (``None``: a quarter of the last run, :class:`QuarterBudget`),
    1e6 on rank one."""
    own = 1e6 if max_seconds is None else max_seconds
    monitor = AttributionMonitor(
        methods=methods, num_probes=probes, max_seconds=own if _rank() == 0 else 1e6
    )
    callbacks = [monitor, PlanRecorder(monitor, root)]
    if max_seconds is None:
        callbacks.append(QuarterBudget(monitor))
    trainer = make_trainer(root, callbacks, max_epochs=epochs, **FIT)
    trainer.fit(LitClassifier(), datamodule=DigitsData())


def multi(root: Path) -> None:
    model = LitImageAndTable()
    monitor = AttributionMonitor(
        methods=["IntegratedGradients", "LayerGradCam"], num_probes=5, batch_transform=split_batch
    )
    trainer = make_trainer(root, [monitor], **FIT)
    trainer.validate(model, loaders()[1])
    if trainer.global_rank == 0:
        torch.save(model.state_dict(), root / "weights.pt")
    torch.save(monitor.latest, root / f"latest_rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    root = Path(sys.argv[1])
    for name in ("resume", "budget", "skip", "multi"):
        (root / name).mkdir(parents=True, exist_ok=True)
    pl.seed_everything(0, verbose=False)
    resume(root / "resume")
    budget(root / "budget", None, BUDGET_METHODS, probes=8, epochs=3)
    budget(root / "skip", 1e-9, {"IntegratedGradients": {"n_steps": 16}}, probes=8, epochs=4)
    multi(root / "multi")
