"""AttributionMonitor: Captum attributions of a fixed probe, logged after validation epochs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from time import perf_counter
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from typing_extensions import override

from lightning_xai.arguments import check_count, check_optional_bool
from lightning_xai.budget import STAGES, BudgetPlan, TimeBudget
from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.distributed import ProbeShard
from lightning_xai.figures.attributions import Attribution, AttributionPictures
from lightning_xai.figures.feature_charts import check_feature_names
from lightning_xai.inputs import ModelInputs
from lightning_xai.methods import ConfiguredMethod, ModelSurvey
from lightning_xai.metrics.runner import MetricRunner, MetricsArg
from lightning_xai.probe import BatchTransform, ProbeSamples
from lightning_xai.render import (
    SIGNS,
    VIEWS,
    Denormalize,
)
from lightning_xai.render.tokens import Vocabulary, check_vocabulary
from lightning_xai.targets import SelectOutput, TargetSpec, check_target, resolve_target

__all__ = ["AttributionMonitor"]

MethodsArg = Sequence[str] | Mapping[str, Mapping[str, Any] | None]


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
        pad_id: token id of padding, left out of the token pictures.
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
            ``background_writes``, ``name``).

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
        name: str | None = None,
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
            name=name,
        )
        self.methods = _configure(methods)
        check_target(target, "AttributionMonitor")
        if view not in VIEWS:
            raise ValueError(
                f"AttributionMonitor: `view` must be one of {list(VIEWS)}, got {view!r}."
            )
        if sign not in SIGNS:
            raise ValueError(
                f"AttributionMonitor: `sign` must be one of {list(SIGNS)}, got {sign!r}."
            )
        if outlier_perc is not None and not 0 <= outlier_perc < 100:
            raise ValueError(
                f"AttributionMonitor: `outlier_perc` must lie in [0, 100), got {outlier_perc}."
            )
        if denormalize is not None and not callable(denormalize) and len(denormalize) != 2:
            raise ValueError(
                "AttributionMonitor: `denormalize` must be (mean, std), a callable or None, got "
                f"{denormalize!r}."
            )
        _check_std(denormalize)
        check_count(image_size, "image_size", "AttributionMonitor")
        check_optional_bool(calibrate_chunks, "calibrate_chunks", "AttributionMonitor")
        check_vocabulary(vocabulary, pad_id, "AttributionMonitor")
        self.vocabulary = vocabulary
        self.pad_id = pad_id
        if feature_names is not None and (
            isinstance(feature_names, str)
            or not isinstance(feature_names, Sequence)
            or not all(isinstance(n, str) for n in feature_names)
        ):
            raise TypeError(
                "AttributionMonitor: `feature_names` must be a sequence of strings, got "
                f"{feature_names!r}."
            )
        self.feature_names = None if feature_names is None else list(feature_names)
        self._checked = False
        self.target = target
        self.denormalize = denormalize
        self.view = view
        self.sign = sign
        self.outlier_perc = outlier_perc
        self.image_size = image_size
        self.latest: dict[str, Attribution] = {}
        self.calibrate_chunks = calibrate_chunks
        if output_transform is not None and not callable(output_transform):
            raise TypeError(
                "AttributionMonitor: `output_transform` must be a callable model output -> "
                f"scores [N, K], got {type(output_transform).__name__}."
            )
        self.output_transform = output_transform
        self._selected: SelectOutput | None = None
        self.metrics = MetricRunner(metrics, owner="AttributionMonitor")
        self.budget = TimeBudget(max_seconds, owner="AttributionMonitor")
        self._pictures = AttributionPictures(
            tags={m.key: m.tag for m in self.methods},
            outlier_perc={m.key: self._outlier_perc(m) for m in self.methods},
            unit_keys=frozenset(m.key for m in self.methods if m.spec.output == "layer"),
            view=view, sign=sign, denormalize=denormalize, image_size=image_size,
            feature_names=self.feature_names, vocabulary=vocabulary, pad_id=pad_id,
            warn_once=self._warn_once,
        )  # fmt: skip

    def _state_key_fields(self) -> dict[str, Any]:
        methods = {"methods": [m.key for m in self.methods], "metrics": list(self.metrics.specs)}
        return {**super()._state_key_fields(), **methods}

    def _chart_layout(self) -> dict[str, str]:
        return {"seconds per method": r"xai/time/[^/]+$"}

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
        batch = _model_inputs(self.probe.batch, pl_module)
        tabular = next((t for t in batch.tensors if t.ndim == 2), batch.first)
        check_feature_names(self.feature_names, tabular, "AttributionMonitor")
        if not batch.plain:
            self.metrics.check_plain_inputs(
                "several inputs" if batch.multi else "`additional_forward_args`"
            )
        survey = ModelSurvey.run(pl_module, batch)
        for method in self.methods:
            method.check(batch, survey)
        self._checked = True

    def _forward(self, pl_module: pl.LightningModule) -> torch.nn.Module:
        """What is explained: the module, or its output passed through ``output_transform``."""
        if self.output_transform is None:
            return pl_module
        if self._selected is None or self._selected.model is not pl_module:
            self._selected = SelectOutput(pl_module, self.output_transform)
        return self._selected

    def _check_probe(self, pl_module: pl.LightningModule) -> None:
        batch = _model_inputs(self.probe.batch, pl_module)
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
        labels, classes = self.probe.labels, outputs.shape[-1]
        if labels is not None and not labels.is_floating_point() and outputs.ndim == 2:
            outside = sorted({int(v) for v in labels.flatten() if not 0 <= v < classes})
            if outside:
                self._warn_once(
                    "labels",
                    f"the probe's labels {outside[:5]} lie outside the model's {classes} outputs "
                    f"[0, {classes - 1}]: they are shown as they are; `target`='label' would fail.",
                )

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        batch = _model_inputs(self.probe.batch, pl_module)
        labels = self.probe.labels
        plan, batch, labels = self._plan_budget(trainer, batch, labels, step)
        if plan.skip:
            return
        with torch.no_grad():
            outputs = batch(self._forward(pl_module))
        if not torch.isfinite(outputs).all():  # counted as `xai/errors/run`
            raise FloatingPointError("the model's outputs on the probe hold NaN or inf")
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
                mapped = _each(method.to_input_space(attribution, part), _finite_float)
            except Exception as err:
                self._failed(method.tag, err, step)
                mapped = None
            whole = shard.gather(mapped, batch.size)
            if whole is None:
                if mapped is not None:  # another rank failed and warned
                    self._failed(method.tag, RuntimeError("failed on another rank"), step)
                continue
            results[method.key] = _each(whole, Tensor.cpu)
            self.writer.add_scalar(f"xai/time/{method.tag}", perf_counter() - start, step)
            self.metrics.evaluate(
                self._forward(pl_module), method, part.first, part_targets, _flattened(mapped),
                overrides,
            )  # fmt: skip
            self.budget.record(method.key, perf_counter() - start)
        # Several inputs: the per-input attributions compare flattened; a layer map covers one
        # input and is left out of the comparison.
        comparable = {
            k: _flattened(v) for k, v in results.items() if not batch.multi or isinstance(v, tuple)
        }
        self.metrics.compare(comparable, {m.key: m.tag for m in self.methods})
        self.latest = results
        cpu = (batch.map(Tensor.cpu).tensors, outputs.detach().float().cpu())
        targets = None if targets is None else targets.cpu()
        labels = None if labels is None else labels.cpu()
        names = batch.names(pl_module) if batch.multi else [""]
        writer = self.writer
        writer.submit(
            lambda: self._pictures.log(writer, step, *cpu, targets, labels, results, names)
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


def _model_inputs(batch: ModelInputs, module: torch.nn.Module) -> ModelInputs:
    """A fresh copy of the probe with floating tensors in the model's dtype (``bf16-true``)."""
    param = next(module.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else None

    def fresh(t: Tensor) -> Tensor:
        if dtype is not None and t.is_floating_point():
            return t.to(dtype=dtype, copy=True)
        return t.clone()

    return batch.map(fresh, extra=True)


def _check_std(denormalize: Denormalize) -> None:
    if denormalize is None or callable(denormalize) or len(denormalize) != 2:
        return
    if (torch.as_tensor(denormalize[1], dtype=torch.float) == 0).any():
        raise ValueError(
            f"AttributionMonitor: `denormalize` std must be nonzero, got {denormalize[1]!r}."
        )


def _each(value: Attribution, fn: Callable[[Tensor], Tensor]) -> Attribution:
    """``fn`` of an attribution, or of each part of a multi-input attribution."""
    return tuple(fn(v) for v in value) if isinstance(value, tuple) else fn(value)


def _finite_float(attribution: Tensor) -> Tensor:
    attribution = attribution.detach().float()
    if not torch.isfinite(attribution).all():
        raise FloatingPointError("the attributions contain NaN or inf")
    return attribution


def _flattened(attribution: Attribution) -> Tensor:
    """One tensor per attribution: a multi-input one flattened per sample, ``[N, D]``."""
    if isinstance(attribution, Tensor):
        return attribution
    return torch.cat([a.flatten(1) for a in attribution], dim=1)


def _configure(methods: MethodsArg) -> list[ConfiguredMethod]:
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        configured = [ConfiguredMethod(k, v) for k, v in methods.items()]
    elif isinstance(methods, Sequence):
        configured = [ConfiguredMethod(k) for k in methods]
    else:
        raise TypeError(
            "AttributionMonitor: `methods` must be a list of method names or a mapping "
            f"name -> options, got {type(methods).__name__}."
        )
    if not configured:
        raise ValueError("AttributionMonitor: `methods` is empty; name at least one method.")
    tags = [m.tag for m in configured]
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise ValueError(
            f"AttributionMonitor: `methods` names {duplicates} more than once; give each entry "
            "its own name and the algorithm as option `method`."
        )
    return configured
