"""AttributionMonitor: Captum attributions of a fixed probe, logged after validation epochs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from typing_extensions import override

from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.metrics.runner import MetricRunner, MetricsArg
from lightning_xai.probe import BatchTransform
from lightning_xai.render import (
    SIGNS,
    VIEWS,
    Denormalize,
    enlarge,
    render_attribution,
    titled_row,
    to_display,
)
from lightning_xai.targets import TargetSpec, check_target, resolve_target

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
    ``xai/time/<method>``                         seconds the method took
    ``xai/errors/<method>``                       failures so far (only once one happened)
    ``xai/metrics/<metric>/<method>``             quality metric, mean over the probe
    ``xai/metrics/<metric>/<method>/per_sample``  its per-sample values (histogram)
    ``xai/time/metric_<metric>/<method>``         seconds the metric took
    ============================================  =============================================

    ``<method>`` is the snake_case of the name given in ``methods``. Images are drawn for image
    inputs ``[N, C, H, W]``; other inputs get a histogram ``xai/attributions/<method>/values``.

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
        outlier_perc: percentage of the attribution mass saturated in the colour scale.
        image_size: small images are enlarged (nearest) to at least this many pixels a side.
        metrics: quality metrics per method: names or name -> options (each also takes
            ``every_n_epochs``), see :class:`~lightning_xai.metrics.MetricRunner` and
            :func:`~lightning_xai.metrics.list_metrics`.
        **kwargs: probe, schedule and fault options of
            :class:`~lightning_xai.callbacks.base.ProbeMonitor` (``num_probes``,
            ``probe_seed``, ``probe``, ``batch_transform``, ``every_n_epochs``, ``on_error``).

    Example:
        >>> monitor = AttributionMonitor(methods=["IntegratedGradients", "Saliency"])
        >>> trainer = pl.Trainer(callbacks=[monitor])  # doctest: +SKIP
        >>> trainer.fit(model, datamodule)  # doctest: +SKIP
        >>> monitor.latest["Saliency"].shape  # doctest: +SKIP
        torch.Size([16, 1, 28, 28])
    """

    def __init__(
        self,
        methods: MethodsArg = ("IntegratedGradients", "Saliency"),
        target: TargetSpec = "pred",
        *,
        denormalize: Denormalize = None,
        view: str = "blended_heat_map",
        sign: str = "auto",
        outlier_perc: float = 2.0,
        image_size: int = 112,
        metrics: MetricsArg = None,
        num_probes: int = 16,
        probe_seed: int = 0,
        probe: Tensor | tuple[Tensor, Tensor | None] | Sequence[int] | None = None,
        batch_transform: BatchTransform | None = None,
        every_n_epochs: int = 1,
        on_error: str = "warn",
    ) -> None:
        super().__init__(
            num_probes=num_probes,
            probe_seed=probe_seed,
            probe=probe,
            batch_transform=batch_transform,
            every_n_epochs=every_n_epochs,
            on_error=on_error,
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
        if not 0 <= outlier_perc < 100:
            raise ValueError(
                f"AttributionMonitor: `outlier_perc` must lie in [0, 100), got {outlier_perc}."
            )
        if denormalize is not None and not callable(denormalize) and len(denormalize) != 2:
            raise ValueError(
                "AttributionMonitor: `denormalize` must be (mean, std), a callable or None, got "
                f"{denormalize!r}."
            )
        self.target = target
        self.denormalize = denormalize
        self.view = view
        self.sign = sign
        self.outlier_perc = outlier_perc
        self.image_size = image_size
        self.latest: dict[str, Tensor] = {}
        self.metrics = MetricRunner(metrics, owner="AttributionMonitor")

    def _state_key_fields(self) -> dict[str, Any]:
        return {**super()._state_key_fields(), "methods": [m.key for m in self.methods]}

    @override
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "metrics": self.metrics.state_dict()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.metrics.load_state_dict(state_dict.get("metrics", {}))

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for method in self.methods:
            method.bind(pl_module)

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        inputs = self.probe.inputs.clone()
        labels = self.probe.labels
        with torch.no_grad():
            outputs = pl_module(inputs)
        targets = resolve_target(self.target, outputs, labels)
        results: dict[str, Tensor] = {}
        self.metrics.begin(trainer, step, self._sinks or [], self._failed, self.probe.seed)
        for method in self.methods:
            start = perf_counter()
            # Random methods draw the same numbers at every run (the RNG is forked by the
            # guard): what changes between runs is the model, not the noise.
            torch.manual_seed(self.probe.seed)
            try:
                attribution = self.metrics.attribute(method, inputs, targets)
                mapped = method.to_input_space(attribution, inputs).detach().float().cpu()
                if not torch.isfinite(mapped).all():
                    raise FloatingPointError("the attributions contain NaN or inf")
            except Exception as err:
                self._failed(method.tag, err, step)
                continue
            results[method.key] = mapped
            for sink in self._sinks or []:
                sink.add_scalar(f"xai/time/{method.tag}", perf_counter() - start, step)
            self.metrics.evaluate(pl_module, method, inputs, targets, mapped)
        self.metrics.compare(results, {m.key: m.tag for m in self.methods})
        self.latest = results
        self._log_pictures(step, inputs.cpu(), outputs.detach().float().cpu(), targets, labels)

    def _log_pictures(
        self,
        step: int,
        inputs: Tensor,
        outputs: Tensor,
        targets: Tensor | None,
        labels: Tensor | None,
    ) -> None:
        sinks = self._sinks or []
        tags = {m.key: m.tag for m in self.methods}
        if inputs.ndim != 4:
            self._warn_once(
                "not-images",
                f"images are drawn for [N, C, H, W] inputs; inputs of shape {tuple(inputs.shape)} "
                "get a histogram of attribution values per method.",
            )
            for key, attribution in self.latest.items():
                for sink in sinks:
                    sink.add_histogram(f"xai/attributions/{tags[key]}/values", attribution, step)
            return
        small = to_display(inputs, self.denormalize)
        shown = enlarge(small, self.image_size)
        pictures = {
            key: enlarge(
                render_attribution(attr, small, self.view, self.sign, self.outlier_perc),
                self.image_size,
            )
            for key, attr in self.latest.items()
        }
        titles = _titles(outputs, targets, labels)
        for k in range(inputs.shape[0]):
            for key, picture in pictures.items():
                for sink in sinks:
                    sink.add_image(f"xai/attributions/{tags[key]}/sample_{k:02d}", picture[k], step)
            panel = titled_row(
                [shown[k], *(p[k] for p in pictures.values())],
                ["input", *(tags[key] for key in pictures)],
                titles[k],
            )
            for sink in sinks:
                sink.add_image(f"xai/panels/sample_{k:02d}", panel, step)


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


def _titles(outputs: Tensor, targets: Tensor | None, labels: Tensor | None) -> list[str]:
    """``"#3 label 7 | pred 7 (0.98)"`` per sample; regression shows the output value."""
    titles = []
    flat = outputs.reshape(outputs.shape[0], -1)
    probs = flat.softmax(dim=1) if flat.shape[1] > 1 else None
    for k in range(flat.shape[0]):
        parts = [f"#{k}"]
        if labels is not None and labels.ndim == 1:
            label = labels[k].item()
            parts.append(f"label {label:.3g}" if isinstance(label, float) else f"label {label}")
        if probs is not None:
            pred = int(probs[k].argmax())
            parts.append(f"pred {pred} ({float(probs[k, pred]):.2f})")
            if targets is not None and int(targets[k]) != pred:
                parts.append(f"target {int(targets[k])}")
        else:
            parts.append(f"output {float(flat[k, 0]):.3g}")
        titles.append(" | ".join(parts))
    return titles
