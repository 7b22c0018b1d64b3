"""AttributionMonitor: Captum attributions of a fixed probe, logged after validation epochs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from typing_extensions import override

from lightning_xai.budget import STAGES, BudgetPlan, TimeBudget
from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.distributed import ProbeShard
from lightning_xai.figures.attributions import AttributionPictures, check_drawing
from lightning_xai.figures.feature_charts import check_feature_names
from lightning_xai.inputs import ModelInputs
from lightning_xai.methods import ConfiguredMethod, ModelSurvey
from lightning_xai.methods.baselines import BaselineStrategy
from lightning_xai.methods.results import Attribution, each, finite_float, flattened
from lightning_xai.methods.selection import MethodsArg, configure_methods
from lightning_xai.metrics.runner import MetricRunner, MetricsArg
from lightning_xai.probe import BatchTransform, ProbeSamples
from lightning_xai.render import Denormalize
from lightning_xai.render.tokens import Vocabulary
from lightning_xai.tags import TAGS, chart_pattern
from lightning_xai.targets import SelectOutput, TargetSpec, check_target, resolve_target
from lightning_xai.token_text import TokenText
from lightning_xai.validators import check_callable, check_strings

__all__ = ["AttributionMonitor"]

_OWNER = "AttributionMonitor"


class AttributionMonitor(ProbeMonitor):
    """Explains a fixed probe with Captum after validation epochs and logs the pictures.

    Attach it to an unchanged ``Trainer``; it needs a validation loop. On global rank zero,
    after every ``every_n_epochs``-th validation epoch (never the sanity check) and after
    ``trainer.validate()`` / ``trainer.test()``, it attributes the probe with each method and
    logs, at step ``trainer.global_step``:

    ============================================  =============================================
    tag                                           content
    ============================================  =============================================
    ``xai/attributions/<method>/sample_<k>``      attribution of probe sample k over the input
    ``xai/panels/sample_<k>``                     input beside every method; title: label,
                                                  prediction and its probability
    ``xai/attributions/<method>/mean_abs``        1-D attributions (tabular inputs, 1-D
                                                  layers): bar chart of the mean |attribution|
    ``xai/features/<method>/<feature>``           tabular inputs: that mean per input feature
    ``xai/time/<method>``                         seconds the method took
    ``xai/errors/<method>``                       failures so far (only once one happened)
    ``xai/metrics/<metric>/<method>``             quality metric, mean over the probe
    ``xai/metrics/<metric>/<method>/per_sample``  its per-sample values (histogram)
    ``xai/time/metric_<metric>/<method>``         seconds the metric took
    ``xai/budget/...``                            with ``max_seconds``: ``estimate_seconds``,
                                                  ``probes``, ``skipped`` and ``remeasured``
                                                  (0/1), ``<method>/<knob>`` for each
                                                  reduced knob
    ============================================  =============================================

    ``<method>`` is the snake_case of the name given in ``methods``. Attributions over image
    inputs ``[N, C, H, W]`` (and spatial layers, upsampled) are drawn over the input; 1-D ones
    (tabular inputs ``[N, F]``, a ``Linear`` layer's units) are bar charts; other shapes get a
    histogram ``xai/attributions/<method>/values``.
    Token-id inputs ``[N, L]`` (integers; attribute them with a layer method on the embedding,
    e.g. ``{"LayerIntegratedGradients": {"layer": "net.embedding"}}``) get a coloured token
    strip image and a Markdown table per sample, ``xai/tokens/<method>/sample_<k>``, see
    :func:`~lightning_xai.figures.tokens.log_token_attributions`.
    Hugging Face needs no glue: dict batches (``input_ids``, ``attention_mask``,
    ``token_type_ids``, ``pixel_values``, ``labels``) are read as they are and the model is
    called with those keywords; a ``ModelOutput`` is explained through its ``logits``; layer
    methods default to the input embedding (``get_input_embeddings()``) of models without a
    ``Conv2d``; baselines of token ids default to Captum's text baseline (the pad id, special
    tokens kept); probes from dynamically padded batches are padded to one length.
    Multi-input models (``batch_transform`` returning ``((image, table), labels)``, optionally
    with Captum's ``additional_forward_args`` as a third element) get each input's pictures
    under ``<method>/<input>`` and ``xai/panels/<input>/sample_<k>``, ``<input>`` being the
    ``forward`` parameter's name; ``latest[method]`` is then a tuple, as Captum returns it.

    Every method is checked against the model once the probe exists (before the first training
    step): layer output shapes for ``neuron_selector``, baselines, model quirks (see
    :class:`~lightning_xai.methods.quirks.ModelSurvey`).

    Args:
        methods: names (``"IntegratedGradients"`` or ``"integrated_gradients"``,
            ``"NoiseTunnel(Saliency)"``) or a mapping name -> options, see
            :class:`~lightning_xai.methods.ConfiguredMethod`.
        target: ``"pred"`` (default), ``"label"``, a class index, ``None`` for single-output
            models, or a callable ``(outputs [N, K], labels [N] | None) -> targets [N]``.
        denormalize: ``(mean, std)`` of the input normalisation, or a callable, to show the
            inputs as the eye sees them; default: per-sample min-max.
        view: ``"blended_heat_map"``, ``"heat_map"`` or ``"masked_image"``.
        sign: ``"auto"``, ``"all"``, ``"positive"``, ``"negative"`` or ``"absolute_value"``.
        outlier_perc: percentage of the attribution mass saturated in the colour scale;
            default 2 (Captum's) for input attributions and 0 (scale by the maximum, the
            Grad-CAM convention) for upsampled layer maps, which are smooth.
        image_size: small images are enlarged (nearest) to at least this many pixels a side.
        vocabulary: token strings by id (a list, or a mapping id -> string), for token-id
            inputs; default: the ids are shown.
        tokenizer: a Hugging Face tokenizer instead of ``vocabulary``: tokens decoded,
            special tokens marked (underlined, in italics in the table) and kept in the text
            baseline, its pad id the default ``pad_id``.
        merge_words: with ``tokenizer``: word pieces merged into words, their attributions
            summed.
        pad_id: token id of padding, left out of the token pictures (when the batch has no
            attention mask) and used by the text baseline; default the tokenizer's, else the
            model's ``config.pad_token_id``.
        feature_names: names of the columns of tabular inputs ``[N, F]`` (bar labels and
            ``xai/features/...`` tags); default ``feature_<i>``.
        output_transform: for models that return a dict or a tuple: a callable picking the
            scores to explain, e.g. ``lambda out: out["logits"]``.
        calibrate_chunks: measure the rows per forward pass on the first run per input
            shape (``True``), or use the defaults measured on CPUs (``False``; see
            bench/README.md). Default ``None``: measure on CUDA devices only. Out-of-memory
            errors halve the rows and retry either way.
        metrics: quality metrics per method: names or name -> options (each also takes
            ``every_n_epochs``), see :class:`~lightning_xai.metrics.MetricRunner` and
            :func:`~lightning_xai.metrics.list_metrics`.
        max_seconds: time budget per run (methods and their metrics), or ``None``. The first
            run is measured at full size; later runs are planned from the previous run's
            per-method times and degraded in this order until they fit: fewer steps
            (``n_steps``, ``nt_samples`` halved), fewer perturbations (``n_samples`` halved,
            Occlusion windows doubled), fewer probes (halved), skip the run. A skip is
            retried at the smallest plan after 1, 2, 4... skipped runs, to measure again.
            Metrics that explain again use the reduced knobs too. See
            :class:`~lightning_xai.budget.TimeBudget`; what was reduced is logged under
            ``xai/budget/`` and named in a warning the first time.
        **kwargs: probe, schedule and fault options of
            :class:`~lightning_xai.callbacks.base.ProbeMonitor` (``num_probes``,
            ``probe_seed``, ``probe``, ``batch_transform``, ``every_n_epochs``, ``on_error``,
            ``background_writes``).

    Example:
        >>> monitor = AttributionMonitor(methods=["IntegratedGradients", "Saliency"])
        >>> trainer = pl.Trainer(callbacks=[monitor])  # doctest: +SKIP
        >>> trainer.fit(model, datamodule)  # doctest: +SKIP
        >>> monitor.latest["Saliency"].shape  # doctest: +SKIP
        torch.Size([16, 1, 28, 28])
    """

    _shards = True

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
        vocabulary: Vocabulary | None = None,
        tokenizer: Any = None,
        merge_words: bool = False,
        pad_id: int | None = None,
        feature_names: Sequence[str] | None = None,
        metrics: MetricsArg = None,
        num_probes: int = 16,
        probe_seed: int = 0,
        probe: ProbeSamples | None = None,
        batch_transform: BatchTransform | None = None,
        every_n_epochs: int = 1,
        on_error: str = "warn",
        background_writes: bool = True,
        calibrate_chunks: bool | None = None,
        output_transform: Callable[[Any], Tensor] | None = None,
        max_seconds: float | None = None,
    ) -> None:
        super().__init__(
            num_probes=num_probes,
            probe_seed=probe_seed,
            probe=probe,
            batch_transform=batch_transform,
            every_n_epochs=every_n_epochs,
            on_error=on_error,
            background_writes=background_writes,
        )
        self.methods = configure_methods(methods)
        check_target(target, _OWNER)
        check_drawing(_OWNER, view, sign, outlier_perc, denormalize)
        self._text = TokenText(tokenizer, vocabulary, pad_id, merge_words, owner=_OWNER)
        self.probe.pad_id = self._text.pad_id
        self.feature_names = check_strings(_OWNER, "feature_names", feature_names)
        scores = "model output -> scores [N, K]"
        check_callable(_OWNER, "output_transform", output_transform, scores)
        self.vocabulary = vocabulary
        self.pad_id = pad_id
        self._checked = False
        self.target = target
        self.denormalize = denormalize
        self.view = view
        self.sign = sign
        self.outlier_perc = outlier_perc
        self.image_size = image_size
        self.latest: dict[str, Attribution] = {}
        self.calibrate_chunks = calibrate_chunks
        self.output_transform = output_transform
        self._selected: SelectOutput | None = None
        self.metrics = MetricRunner(metrics, owner=_OWNER)
        self.budget = TimeBudget(max_seconds, owner=_OWNER)
        self._pictures = AttributionPictures(
            tags={m.key: m.tag for m in self.methods},
            outlier_perc={m.key: self._outlier_perc(m) for m in self.methods},
            unit_keys=frozenset(m.key for m in self.methods if m.spec.output == "layer"),
            view=view, sign=sign, denormalize=denormalize, image_size=image_size,
            feature_names=self.feature_names, text=self._text, warn_once=self._warn_once,
        )  # fmt: skip

    def _state_key_fields(self) -> dict[str, Any]:
        return {**super()._state_key_fields(), "methods": [m.key for m in self.methods]}

    def _chart_layout(self) -> dict[str, str]:
        return {"seconds per method": chart_pattern("time", method="[^/]+")}

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "metrics": self.metrics.state_dict(),
            "budget": self.budget.state_dict(),
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.metrics.load_state_dict(state_dict.get("metrics", {}))
        self.budget.load_state_dict(state_dict.get("budget", {}))

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._text.pad_id is None:  # the model's, found by ProbeMonitor.setup
            self._text.pad_id = self.probe.pad_id
        calibrate = self.calibrate_chunks
        if calibrate is None:  # measured defaults fit CPUs; GPUs vary too much: measure
            calibrate = trainer.strategy.root_device.type == "cuda"
        for method in self.methods:
            method.bind(pl_module, calibrate=calibrate, forward=self._forward(pl_module))
        self._checked = False

    @override
    def _ensure_probe(self, pl_module: pl.LightningModule, loaders: Any) -> None:
        super()._ensure_probe(pl_module, loaders)
        if self.probe.ready and not self._checked:
            self._check_with_probe(pl_module)

    def _check_with_probe(self, pl_module: pl.LightningModule) -> None:
        """Checks each method against the probe and one surveyed forward of it: the first
        moment the input shapes are known, still before the first training step."""
        batch = self.probe.batch.fresh_for(pl_module)
        tabular = next((t for t in batch.tensors if t.ndim == 2), batch.first)
        check_feature_names(self.feature_names, tabular, "AttributionMonitor")
        if not batch.plain:
            self.metrics.check_plain_inputs(
                "several inputs" if batch.multi else "`additional_forward_args`"
            )
        survey = ModelSurvey.run(pl_module, batch)
        token_ids = batch.first.ndim == 2 and not batch.first.is_floating_point()
        for method in self.methods:
            if token_ids and self._text.pad_id is not None:
                _text_baseline(method, self._text)
            method.check(batch, survey)
        self._checked = True

    def _forward(self, pl_module: pl.LightningModule) -> torch.nn.Module:
        """What is explained: the module called as the probe's batch says (by keyword for
        dict batches), its output passed through ``output_transform`` (or a ``ModelOutput``'s
        ``logits``)."""
        if self._selected is None or self._selected.model is not pl_module:
            self._selected = SelectOutput(pl_module, self.output_transform)
        if self.probe.ready:
            self._selected.keys = self.probe.batch.keys
        return self._selected

    def _check_probe(self, pl_module: pl.LightningModule) -> None:
        batch = self.probe.batch.fresh_for(pl_module)
        try:
            outputs = batch(self._forward(pl_module))
        except TypeError as err:
            raise TypeError(
                f"AttributionMonitor: calling the model on the probe failed ({err}). A model "
                "with several inputs or further arguments needs `batch_transform=` returning "
                "((input_1, input_2, ...), labels) or (inputs, labels, additional_forward_args), "
                f"e.g. `lambda b: ((b[0], b[1]), b[-1])`; the probe gave {len(batch.tensors)} "
                f"input(s) and {len(batch.extra)} additional argument(s)."
            ) from err
        if not isinstance(outputs, Tensor):
            raise TypeError(
                f"AttributionMonitor: the model returns {type(outputs).__name__}, not a tensor; "
                "pass `output_transform=` a callable that picks the scores to explain, e.g. "
                "`lambda out: out['logits']`."
            )
        try:
            resolve_target(self.target, outputs, self.probe.labels)
        except ValueError as err:
            raise ValueError(f"AttributionMonitor: {err}") from None

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        batch = self.probe.batch.fresh_for(pl_module)
        labels = self.probe.labels
        plan, batch, labels = self._plan_budget(trainer, batch, labels, step)
        if plan.skip:
            return
        with torch.no_grad():
            outputs = batch(self._forward(pl_module))
        targets = resolve_target(self.target, outputs, labels)
        # Each rank explains its share of the probe; every rank gets the whole result.
        shard = ProbeShard.of(trainer)
        rows = shard.rows(batch.size)
        part, part_targets = batch.take(rows), None if targets is None else targets[rows]
        results: dict[str, Attribution] = {}
        self.metrics.begin(
            trainer, step, [self.writer], self._failed, self.probe.seed, shard, batch.size
        )
        for method in self.methods:
            start = perf_counter()
            # Random methods draw the same numbers at every run (the RNG is forked by the
            # guard): what changes between runs is the model, not the noise.
            torch.manual_seed(self.probe.seed)
            mapped, overrides = None, plan.overrides.get(method.key, {})
            try:
                attribution = self.metrics.attribute(method, part, part_targets, **overrides)
                mapped = each(method.to_input_space(attribution, part), finite_float)
            except Exception as err:
                self._failed(method.tag, err, step)
                mapped = None
            whole = shard.gather(mapped, batch.size)
            if whole is None:
                if mapped is not None:  # another rank failed and warned
                    self._failed(method.tag, RuntimeError("failed on another rank"), step)
                continue
            results[method.key] = each(whole, Tensor.cpu)
            self.writer.add_scalar(TAGS["time"](method=method.tag), perf_counter() - start, step)
            self.metrics.evaluate(
                self._forward(pl_module), method, part.first, part_targets, flattened(mapped),
                overrides,
            )  # fmt: skip
            self.budget.record(method.key, perf_counter() - start)
        # Several inputs: the per-input attributions compare flattened; a layer map covers one
        # input and is left out of the comparison.
        comparable = {
            k: flattened(v) for k, v in results.items() if not batch.multi or isinstance(v, tuple)
        }
        self.metrics.compare(comparable, {m.key: m.tag for m in self.methods})
        self.latest = results
        cpu = (batch.map(Tensor.cpu).tensors, outputs.detach().float().cpu())
        targets = None if targets is None else targets.cpu()
        labels = None if labels is None else labels.cpu()
        names = batch.names(pl_module) if batch.multi else [""]
        mask = batch.keyword("attention_mask")
        mask = None if mask is None else mask.cpu()
        writer = self.writer
        writer.submit(
            lambda: self._pictures.log(writer, step, *cpu, targets, labels, results, names, mask)
        )

    def _outlier_perc(self, method: ConfiguredMethod) -> float:
        if self.outlier_perc is not None:
            return self.outlier_perc
        return 0.0 if method.spec.output == "layer" else 2.0

    def _plan_budget(
        self, trainer: pl.Trainer, batch: ModelInputs, labels: Tensor | None, step: int
    ) -> tuple[BudgetPlan, ModelInputs, Tensor | None]:
        """This run's plan under ``max_seconds``, the probe cut to its size, and its logging."""
        # Occlusion's window is a knob for one input only (several inputs: a window each).
        shape = batch.first.shape[:1] if batch.multi else batch.first.shape
        knobs = {m.key: TimeBudget.knobs(m, shape) for m in self.methods}
        plan = self.budget.plan(knobs, batch.size)
        if self.budget.max_seconds is None:
            return plan, batch, labels
        if trainer.world_size > 1:  # every rank follows rank zero's plan: collectives pair up
            plan = self.budget.follow(trainer.strategy.broadcast(plan, src=0))
        tags = {m.key: m.tag for m in self.methods}
        for tag, value in plan.scalars(tags).items():
            self.writer.add_scalar(tag, value, step)
        if plan.stages:
            full = sum(self.budget.costs.get(m.key, 0.0) for m in self.methods)
            self._warn_once(
                "budget",
                f"`max_seconds`={self.budget.max_seconds} is below the full run's {full:.2f} s; "
                f"degrading in the order {list(STAGES)}: {plan.describe(tags)}. Logged under "
                "`xai/budget/`.",
            )
        labels = None if labels is None else labels[: plan.probes]
        return plan, batch.head(plan.probes), labels


def _text_baseline(method: ConfiguredMethod, text: TokenText) -> None:
    """Captum's text baseline (pad id, special tokens kept) for a method on token ids whose
    baselines the user left at the default."""
    strategy = method.baselines
    if strategy is not None and strategy.spec is None and strategy.min_count == 1:
        method.baselines = BaselineStrategy(
            text.baseline, distribution=strategy.distribution, where=strategy.where
        )
