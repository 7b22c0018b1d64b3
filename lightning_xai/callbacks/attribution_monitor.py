"""AttributionMonitor: Captum attributions of a fixed probe, logged after validation epochs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from typing_extensions import override

from lightning_xai.budget import TimeBudget
from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.distributed import ProbeShard
from lightning_xai.explain import explain
from lightning_xai.figures.attributions import (
    AttributionPictures,
    check_drawing,
    default_outlier_perc,
)
from lightning_xai.figures.scales import HeldScales
from lightning_xai.methods import ModelSurvey
from lightning_xai.methods.baselines import text_baselines
from lightning_xai.methods.results import Attribution, flattened
from lightning_xai.methods.selection import MethodsArg, configure_methods
from lightning_xai.metrics.runner import MetricRunner, MetricsArg
from lightning_xai.probe.checks import check_model_call, check_probe_inputs, labels_outside
from lightning_xai.render import Denormalize
from lightning_xai.render.tokens import Vocabulary
from lightning_xai.tags import TAGS, chart_pattern
from lightning_xai.targets import SelectOutput, TargetSpec, check_target, score_probe
from lightning_xai.token_text import TokenText
from lightning_xai.validators import (
    check_callable,
    check_count,
    check_optional_bool,
    check_strings,
    named_errors,
)

__all__ = ["AttributionMonitor"]

_OWNER = "AttributionMonitor"


class AttributionMonitor(ProbeMonitor):
    """Explains a fixed probe with Captum after validation epochs and logs the pictures.

    Attach it to an unchanged ``Trainer``; it needs a validation loop. On global rank zero,
    after every ``every_n_epochs``-th validation epoch (never the sanity check) and after
    ``trainer.validate()`` / ``trainer.test()``, it attributes the probe with each method and
    logs, at step ``trainer.global_step``, each sample's map, a panel of every method per sample,
    each method's seconds and failures, the quality ``metrics`` and the time budget's plan
    (tags: ``xai/attributions/<method>/sample_<k>``, ``xai/panels/sample_<k>``, ...; the
    README's "Tag layout" and :data:`~lightning_xai.tags.TAGS` list them all).

    ``<method>`` is the snake_case of the name given in ``methods``. Attributions over images
    ``[N, C, H, W]`` (and upsampled spatial layers) are drawn over the input; 1-D ones (tables
    ``[N, F]``, a ``Linear`` layer's units) are bar charts; token ids ``[N, L]`` (a layer method
    on the embedding) get a coloured token strip and a table, ``xai/tokens/<method>/sample_<k>``
    (:func:`~lightning_xai.figures.tokens.log_token_attributions`); other shapes a histogram
    ``xai/attributions/<method>/values``. Hugging Face dict batches and ``ModelOutput`` need no
    glue (:mod:`~lightning_xai.probe.batches`; layer methods default to the input embedding, token
    baselines to Captum's text baseline). Multi-input models (``batch_transform`` returning
    ``((image, table), labels[, additional_forward_args])``) log each input under
    ``<method>/<input>`` and ``xai/panels/<input>/sample_<k>``; ``latest[method]`` is a tuple.

    Args:
        methods: names (``"IntegratedGradients"`` or ``"integrated_gradients"``,
            ``"NoiseTunnel(Saliency)"``) or a mapping name -> options, see
            :class:`~lightning_xai.methods.ConfiguredMethod`.
        target: ``"pred"`` (default), ``"label"``, a class index, ``None`` for single-output
            models, or a callable ``(outputs [N, K], labels [N] | None) -> targets [N]``.
        denormalize: ``(mean, std)`` of the input normalisation, or a callable, to show the
            inputs as the eye sees them; default: per-sample min-max.
        view, sign, outlier_perc, image_size, scale: how the maps are drawn (colour bars, a
            scale held across epochs with ``scale="fixed"`` or ``"max"``, the ``~0`` mark), see
            :class:`~lightning_xai.figures.AttributionPictures`.
        vocabulary, tokenizer, merge_words, pad_id: how token ids read (a Hugging Face
            tokenizer or a vocabulary, word pieces merged, padding; default pad id: the
            tokenizer's, else the model's ``config.pad_token_id``), see
            :class:`~lightning_xai.token_text.TokenText`.
        feature_names: names of the columns of tabular inputs ``[N, F]`` (bar labels and
            ``xai/features/...`` tags); default ``feature_<i>``.
        output_transform: for models that return a dict or a tuple: a callable picking the
            scores to explain, e.g. ``lambda out: out["logits"]``.
        calibrate_chunks: measure the rows per forward pass on the first run per input
            shape (``True``), or size them by the bytes of the widest layer output per row
            (``False``; see bench/README.md). Default ``None``: measure on CUDA devices only.
            Out-of-memory errors halve the rows and retry either way.
        metrics: quality metrics per method: names or name -> options (each also takes
            ``every_n_epochs``), see :class:`~lightning_xai.metrics.MetricRunner` and
            :func:`~lightning_xai.metrics.list_metrics`.
        max_seconds: time budget per run (methods and their metrics), or ``None``: later
            runs are planned from measured times and degraded until they fit (fewer steps,
            perturbations, probes; else a skip, retried after 1, 2, 4... skips), see
            :class:`~lightning_xai.budget.TimeBudget`. Logged under ``xai/budget/``.
        **kwargs: the options of every monitor (``num_probes``, ``probe_seed``, ``probe``,
            ``batch_transform``, ``every_n_epochs``, ``on_error``, ``background_writes``,
            ``sinks``, ``name``), see :class:`~lightning_xai.callbacks.base.ProbeMonitor`.

    Example:
        >>> monitor = AttributionMonitor(methods=["IntegratedGradients", "Saliency"])
        >>> trainer = pl.Trainer(callbacks=[monitor])  # doctest: +SKIP
        >>> trainer.fit(model, datamodule)  # doctest: +SKIP
        >>> monitor.latest["Saliency"].shape  # doctest: +SKIP
        torch.Size([16, 1, 28, 28])
    """

    _shards = True
    _stateful = ("metrics", "budget", "scales")  # drift memory, measured costs, held scales

    def __init__(
        self,
        methods: MethodsArg = ("IntegratedGradients", "Saliency"),
        target: TargetSpec = "pred",
        *,
        denormalize: Denormalize = None,
        view: str = "blended_heat_map",
        sign: str = "auto",
        outlier_perc: float | None = None,
        image_size: int = 112,
        scale: str = "sample",
        vocabulary: Vocabulary | None = None,
        tokenizer: Any = None,
        merge_words: bool = False,
        pad_id: int | None = None,
        feature_names: Sequence[str] | None = None,
        metrics: MetricsArg = None,
        calibrate_chunks: bool | None = None,
        output_transform: Callable[[Any], Tensor] | None = None,
        max_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with named_errors(_OWNER):
            self.methods = configure_methods(methods)
            check_target(target)
            check_drawing(view, sign, outlier_perc, denormalize, scale)
            self._text = TokenText(tokenizer, vocabulary, pad_id, merge_words)
            self.feature_names = check_strings("feature_names", feature_names)
            check_callable("output_transform", output_transform, "output -> scores [N, K]")
            check_count("image_size", image_size)
            check_optional_bool("calibrate_chunks", calibrate_chunks)
            self.metrics = MetricRunner(metrics)
            self.budget = TimeBudget(max_seconds)
        self.probe.pad_id = self._text.pad_id
        self.target, self.vocabulary, self.pad_id = target, vocabulary, pad_id
        self.view, self.sign, self.outlier_perc = view, sign, outlier_perc
        self.denormalize, self.image_size = denormalize, image_size
        self.calibrate_chunks, self.output_transform = calibrate_chunks, output_transform
        self.latest: dict[str, Attribution] = {}
        self._checked = False
        self._selected: SelectOutput | None = None
        self.scales = HeldScales(scale)
        self._pictures = AttributionPictures(
            tags={m.key: m.tag for m in self.methods},
            outlier_perc={m.key: default_outlier_perc(outlier_perc, m.spec) for m in self.methods},
            unit_keys=frozenset(m.key for m in self.methods if m.spec.output == "layer"),
            view=view, sign=sign, denormalize=denormalize, image_size=image_size,
            feature_names=self.feature_names, text=self._text, warn_once=self._warn_once,
        )  # fmt: skip

    def _state_key_fields(self) -> dict[str, Any]:
        methods = {"methods": [m.key for m in self.methods], "metrics": list(self.metrics.specs)}
        return {**super()._state_key_fields(), **methods}

    def _chart_layout(self) -> dict[str, str]:
        return {"seconds per method": chart_pattern("time", method="[^/]+")}

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._text.pad_id is None:  # the model's, found by ProbeMonitor.setup
            self._text.pad_id = self.probe.pad_id
        # Sized by bytes on CPUs; GPUs vary too much: measured there unless told otherwise.
        calibrate = self.calibrate_chunks
        calibrate = trainer.strategy.root_device.type == "cuda" if calibrate is None else calibrate
        for method in self.methods:
            method.bind(pl_module, calibrate=calibrate, forward=self._forward(pl_module))
        self._checked = False

    @override
    def _ensure_probe(self, pl_module: pl.LightningModule, loaders: Any) -> None:
        """Then checks each method against the probe and one surveyed forward of it: the first
        moment the input shapes are known, still before the first training step."""
        super()._ensure_probe(pl_module, loaders)
        if not self.probe.ready or self._checked:
            return
        batch = self.probe.batch.fresh_for(pl_module)
        with named_errors(_OWNER):
            check_probe_inputs(batch, self.feature_names, self.metrics)
            survey = ModelSurvey.run(pl_module, batch)
            token_ids = batch.first.ndim == 2 and not batch.first.is_floating_point()
            for method in self.methods:
                if token_ids and self._text.pad_id is not None:
                    method.baselines = text_baselines(method.baselines, self._text.baseline)
                for note in method.check(batch, survey):
                    self._warn_once(note, note)
        self._checked = True

    def _forward(self, pl_module: pl.LightningModule) -> torch.nn.Module:
        """What is explained: the module, called as the probe says, its scores selected."""
        if self._selected is None or self._selected.model is not pl_module:
            self._selected = SelectOutput(pl_module, self.output_transform)
        if self.probe.ready:
            self._selected.keys = self.probe.batch.keys
        return self._selected

    def _check_probe(self, pl_module: pl.LightningModule) -> None:
        batch, labels = self.probe.batch.fresh_for(pl_module), self.probe.labels
        outputs = check_model_call(self._forward(pl_module), batch, self.target, labels)
        if message := labels_outside(outputs, labels):
            self._warn_once("labels", message)

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        batch, labels = self.probe.batch.fresh_for(pl_module), self.probe.labels
        # Under DDP every rank follows rank zero's plan, so that the collectives pair up.
        broadcast = trainer.strategy.broadcast if trainer.world_size > 1 else None
        plan, note = self.budget.plan_logged(self.methods, batch, broadcast, self.writer, step)
        if note:
            self._warn_once("budget", note)
        if plan.skip:
            return
        batch, labels = batch.head(plan.probes), None if labels is None else labels[: plan.probes]
        outputs, targets = score_probe(self._forward(pl_module), batch, self.target, labels)
        # Each rank explains its share of the probe; every rank gets the whole result.
        shard = ProbeShard.of(trainer)
        rows = shard.rows(batch.size)
        part, part_targets = batch.take(rows), None if targets is None else targets[rows]
        results: dict[str, Attribution] = {}  # method key -> the whole probe's, CPU
        due = self.metrics.due(trainer.current_epoch if trainer.state.fn == "fit" else None)
        for method in self.methods:
            if self.progress is not None:
                self.progress.step(method.tag, len(self.methods))
            done = explain(
                method, self._forward(pl_module), part, part_targets, metrics=self.metrics,
                due=due, seed=self.probe.seed, overrides=plan.overrides.get(method.key),
                shard=shard, size=batch.size,
            )  # fmt: skip
            if done.failure is not None:
                self._failed(method.tag, done.failure, step)
            if done.attribution is None:
                continue
            results[method.key] = done.attribution
            self.writer.add_scalar(TAGS["time"](method=method.tag), done.seconds, step)
            done.metrics.report(self.writer, step, self._warn_once, self._failed)
            self.budget.record(method.key, done.total)
        # Several inputs: per-input tuples compare flattened, one input's layer maps not at all.
        tags = {m.key: m.tag for m in self.methods}
        keep = {k: v for k, v in results.items() if not batch.multi or isinstance(v, tuple)}
        compared = self.metrics.compare({tags[k]: flattened(v) for k, v in keep.items()}, due)
        compared.report(self.writer, step, self._warn_once, self._failed)
        self.latest = results
        cpu = (batch.map(Tensor.cpu).tensors, outputs.detach().float().cpu())
        targets, labels = (None if t is None else t.cpu() for t in (targets, labels))
        names, writer = batch.names(pl_module) if batch.multi else [""], self.writer
        held = None
        if self.scales.active:  # held here, on the training thread: they are checkpointed
            held = self.scales.hold(self._pictures.scales(cpu[0], results, names))
        mask = None if (m := batch.keyword("attention_mask")) is None else m.cpu()
        log, epoch = self._pictures.log, trainer.current_epoch
        writer.submit(
            lambda: log(writer, step, *cpu, targets, labels, results, names, epoch, held, mask)
        )

