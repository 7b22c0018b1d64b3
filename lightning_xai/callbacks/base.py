"""What every monitor shares: probe, schedule, guard, sinks, fault handling, checkpoint state."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from typing_extensions import override

from lightning_xai.callbacks.compat import first_loader, unsupported_trainer
from lightning_xai.callbacks.console import WarnOnce
from lightning_xai.callbacks.identity import CheckpointIdentity
from lightning_xai.distributed import ProbeShard
from lightning_xai.guard import attribution_guard
from lightning_xai.hf_models import model_pad_id
from lightning_xai.probe import BatchTransform, Probe, ProbeSamples
from lightning_xai.progress import RunProgress
from lightning_xai.sinks import BackgroundWriter
from lightning_xai.sinks.select import SinksArg, check_sinks, fallback_note, resolve_sinks
from lightning_xai.tags import TAGS
from lightning_xai.validators import check_choice, check_count, named_errors

__all__ = ["ProbeMonitor"]

_ON_ERROR = ("warn", "raise")
# The probe's arguments as the monitors call them.
_PROBE_ARGUMENTS = {"`seed`": "`probe_seed`", "`samples`": "`probe`"}


class ProbeMonitor(CheckpointIdentity):
    """Base class of the monitors: runs :meth:`_run` on a fixed probe after validation epochs.

    Subclasses implement ``_bind`` (checks against the model, in ``setup``) and ``_run`` (the
    work, inside :func:`~lightning_xai.guard.attribution_guard`). A subclass that needs no
    gradient sets ``_needs_grad = False``: its ``_run`` then runs with grad off. Subclasses
    take these options as ``**kwargs`` passed on to ``super().__init__(**kwargs)``, which
    LightningCLI follows (jsonargparse reads this signature through it).

    Args:
        num_probes: number of validation samples to explain.
        probe_seed: seed of the probe selection.
        probe: explicit probe: inputs ``[N, ...]``, ``(inputs, labels)``, ``(inputs, labels,
            additional_forward_args)`` (``inputs`` a tuple for multi-input models) or dataset
            indices.
        batch_transform: ``batch -> (inputs, labels_or_None)`` or ``(inputs, labels_or_None,
            additional_forward_args)`` for unusual batches and multi-input models.
        every_n_epochs: run after the validation of every n-th epoch.
        on_error: ``"warn"`` (default: warn, count, carry on) or ``"raise"``.
        background_writes: render, encode and write on a background thread (default), so
            the hook returns once the results are on the CPU; flushed at the end of every
            stage and on exceptions.
        sinks: where to write instead of the default (:func:`~lightning_xai.sinks.select_sinks`:
            TensorBoard, then the other loggers, then files): a list of
            :class:`~lightning_xai.sinks.Sink`, or a callable ``trainer -> list of sinks``
            called once per stage on global rank zero.
        name: identity in checkpoints, see :mod:`~lightning_xai.callbacks.identity`.
    """

    _needs_grad: bool = True  # whether ``_run`` needs autograd (the guard turns grad on)
    _shards: bool = False  # True: every rank runs ``_run`` on its share of the probe
    _stateful: tuple[str, ...] = ()  # attributes kept in checkpoints under their names

    def __init__(
        self,
        *,
        num_probes: int = 16,
        probe_seed: int = 0,
        probe: ProbeSamples | None = None,
        batch_transform: BatchTransform | None = None,
        every_n_epochs: int = 1,
        on_error: str = "warn",
        background_writes: bool = True,
        sinks: SinksArg = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        with named_errors(type(self).__name__, _PROBE_ARGUMENTS):
            self.probe = Probe(num_probes, probe_seed, probe, batch_transform)
            check_count("every_n_epochs", every_n_epochs)
            check_choice("on_error", on_error, _ON_ERROR)
            self.sinks = check_sinks(sinks)
        self.every_n_epochs = every_n_epochs
        self.on_error = on_error
        self.errors: Counter[str] = Counter()
        self.runs = 0
        self.background_writes = background_writes
        self.progress: RunProgress | None = None
        self._writer: BackgroundWriter | None = None
        self._once = WarnOnce(type(self).__name__)

    # -- state ---------------------------------------------------------------------------
    def _state_key_fields(self) -> dict[str, Any]:
        return {"num_probes": self.probe.num_probes, "probe_seed": self.probe.seed}

    @override
    def state_dict(self) -> dict[str, Any]:
        parts = {name: getattr(self, name).state_dict() for name in ("probe", *self._stateful)}
        return {**parts, "runs": self.runs, "errors": dict(self.errors)} | {
            "config": self._state_key_fields()
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for name in ("probe", *self._stateful):
            getattr(self, name).load_state_dict(state_dict.get(name, {}))
        self.runs = int(state_dict.get("runs", 0))
        self.errors = Counter(state_dict.get("errors", {}))
        if note := self._resume_note(state_dict.get("config")):
            self._warn_once("resume-config", note)

    # -- setup: everything that needs the Trainer and the model ------------------------------
    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        owner = type(self).__name__
        why = unsupported_trainer(trainer, pl_module, stage)
        if why := why or ProbeShard.unsupported(trainer.strategy):
            raise MisconfigurationException(f"{owner}: {why}")
        if getattr(trainer, "fast_dev_run", False):
            message = "off under `fast_dev_run` (one batch, the loggers replaced by a dummy)."
            self._warn_once("fast_dev_run", message + " Run without it to see the output.")
        if self.probe.pad_id is None:  # pads token ids of dynamically padded batches
            self.probe.pad_id = model_pad_id(pl_module)
        self._take_position(getattr(trainer, "callbacks", []))
        with named_errors(owner):
            self._bind(trainer, pl_module)

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Checks the configuration against the model; raise here, before training (a
        ``TypeError``/``ValueError`` is named after the monitor)."""

    # -- the probe -------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_probe(pl_module, trainer.val_dataloaders)

    @override
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_probe(pl_module, trainer.val_dataloaders)

    @override
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_probe(pl_module, trainer.test_dataloaders)

    def _ensure_probe(self, pl_module: pl.LightningModule, loaders: Any) -> None:
        """Selects the probe once data is there and checks it, before the first step."""
        if not self.probe.ready:
            loader = first_loader(loaders)
            if loader is None:
                return
            named = named_errors(type(self).__name__, _PROBE_ARGUMENTS)
            with attribution_guard(pl_module, grad=False), named:
                self.probe.select(loader, pl_module.device)
                self._check_probe(pl_module)
        self.probe.to(pl_module.device)

    def _check_probe(self, pl_module: pl.LightningModule) -> None:
        """Checks what needs the probe and the model (runs once, grad off, in the guard)."""

    # -- the schedule ----------------------------------------------------------------------
    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._maybe_run(trainer, pl_module)

    @override
    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._maybe_run(trainer, pl_module)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.num_val_batches == [0] and self._should_run(trainer) and trainer.is_global_zero:
            self._writer_for(trainer)  # this epoch's validation data was empty: nothing ran
            error = RuntimeError(f"validation at epoch {trainer.current_epoch} ran no batches")
            self._failed("validation", error, trainer.global_step)

    def _should_run(self, trainer: pl.Trainer) -> bool:
        if trainer.sanity_checking or getattr(trainer, "fast_dev_run", False):
            return False
        if trainer.state.fn != "fit":
            return True
        return (trainer.current_epoch + 1) % self.every_n_epochs == 0

    def _maybe_run(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._should_run(trainer) or not (trainer.is_global_zero or self._shards):
            return
        step = trainer.global_step
        self._writer_for(trainer)
        self._report_write_errors(step)
        if not self.probe.ready:
            self._failed("probe", RuntimeError("no probe samples could be read"), step)
            return
        # The epoch of every logged step, for readers that show epochs (the XAI dashboard).
        self.writer.add_scalar(TAGS["epoch"](), float(trainer.current_epoch), step)
        failures = sum(self.errors.values())
        self.progress = RunProgress(type(self).__name__, trainer)
        try:
            with (
                self._once.collect(),
                attribution_guard(pl_module, grad=self._needs_grad),
                self.progress.watch(pl_module),
            ):
                self._run(trainer, pl_module, step)
        except Exception as err:  # a monitor never kills the training by default
            self._failed("run", err, step)
        finally:
            self.progress.close(step, sum(self.errors.values()) - failures)
        self.runs += 1

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        raise NotImplementedError

    # -- faults ----------------------------------------------------------------------------
    def _failed(self, what: str, error: BaseException, step: int) -> None:
        """Counts, warns (once per kind of failure) and logs ``xai/errors/<what>``; re-raises
        with ``on_error="raise"``."""
        if self.on_error == "raise":
            raise error
        self.errors[what] += 1
        self._warn_once(
            f"failed-{what}-{type(error).__name__}",
            f"{what} failed at step {step} ({type(error).__name__}: {error}). Training "
            f"continues; this warning is shown once, the failure count is logged as "
            f"`{TAGS['error'](what=what)}`.",
            RuntimeWarning,
        )
        if self._writer is not None:
            self._writer.add_scalar(TAGS["error"](what=what), self.errors[what], step)

    def _warn_once(self, key: str, message: str, category: type[Warning] = UserWarning) -> None:
        """Warns once per monitor and ``key`` (Lightning's ``rank_zero_warn``)."""
        self._once.warn(key, message, category)

    def _warn_reused(self, layers: list[str]) -> None:
        """Warns once per layer that runs more than once per forward (its first call shown)."""
        for name in layers:
            message = f"layer {name!r} runs more than once per forward; its first call is shown."
            self._warn_once(f"reused-{name}", message)

    # -- output --------------------------------------------------------------------------
    @property
    def writer(self) -> BackgroundWriter:
        """Where ``_run`` writes: a :class:`~lightning_xai.sinks.Sink` fanned out to every sink."""
        if self._writer is None:
            raise RuntimeError(f"{type(self).__name__}: no writer before the first run.")
        return self._writer

    def _writer_for(self, trainer: pl.Trainer) -> BackgroundWriter:
        """The sinks of this stage (``sinks=``, else :func:`select_sinks`) behind one writer.

        Lightning's loggers are not thread-safe: a :class:`LoggerSink` queues what the writer
        thread gives it and hands it to its logger when flushed on the training thread.
        """
        if self._writer is None and not trainer.is_global_zero:
            self._writer = BackgroundWriter([], background=False)  # only rank zero writes
        if self._writer is None:
            sinks = resolve_sinks(trainer, self.sinks, self._chart_layout())
            if self.sinks is None and (note := fallback_note(sinks)):
                self._warn_once("no-tensorboard", note)
            self._writer = BackgroundWriter(sinks, background=self.background_writes)
        return self._writer

    def _chart_layout(self) -> dict[str, str]:
        """Custom Scalars charts: title -> regex of the scalar tags drawn together."""
        return {}

    def _report_write_errors(self, step: int) -> None:
        for error in self._writer.flush() if self._writer is not None else []:
            self._failed("write", error, step)

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if self._writer is not None:
            self._writer.flush()  # keep what was logged before the failure

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._writer is not None:
            self._report_write_errors(trainer.global_step)
            self._writer.close()
            self._writer = None
