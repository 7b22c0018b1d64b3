"""Checks of an AttributionMonitor's configuration against the probe, before the first step.

They raise without the monitor's name; the monitor adds it
(:func:`~lightning_xai.validators.named_errors`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from lightning_xai.figures.feature_charts import check_feature_names
from lightning_xai.inputs import ModelInputs
from lightning_xai.metrics.runner import MetricRunner
from lightning_xai.targets import TargetSpec, resolve_target

__all__ = [
    "check_model_call",
    "check_probe_inputs",
    "labels_outside",
]


def check_model_call(
    model: nn.Module, batch: ModelInputs, target: TargetSpec, labels: Tensor | None
) -> Tensor:
    """The model takes the probe, returns scores ``[N, K]`` (returned) and ``target`` resolves
    on them.

    Raises:
        TypeError: the call fails (a hint at ``batch_transform=``) or returns no tensor (a
            hint at ``output_transform=``).
        ValueError: ``target`` does not fit the outputs.
    """
    try:
        outputs = batch(model)
    except TypeError as err:
        raise TypeError(
            f"calling the model on the probe failed ({err}). A model with several inputs or "
            "further arguments needs `batch_transform=` returning ((input_1, input_2, ...), "
            "labels) or (inputs, labels, additional_forward_args), e.g. "
            f"`lambda b: ((b[0], b[1]), b[-1])`; the probe gave {len(batch.tensors)} input(s) "
            f"and {len(batch.extra)} additional argument(s)."
        ) from err
    if not isinstance(outputs, Tensor):
        raise TypeError(
            f"the model returns {type(outputs).__name__}, not a tensor; pass "
            "`output_transform=` a callable that picks the scores to explain, e.g. "
            "`lambda out: out['logits']`."
        )
    resolve_target(target, outputs, labels)
    return outputs


def check_probe_inputs(
    batch: ModelInputs, feature_names: Sequence[str] | None, metrics: MetricRunner
) -> None:
    """``feature_names`` name the columns of the tabular input, and the metrics support the
    model's inputs (several inputs or ``additional_forward_args``: attribution-only metrics).

    Raises:
        ValueError: either does not hold.
    """
    tabular = next((t for t in batch.tensors if t.ndim == 2), batch.first)
    check_feature_names(feature_names, tabular)
    if not batch.plain:
        metrics.check_plain_inputs("several inputs" if batch.multi else "`additional_forward_args`")


def labels_outside(outputs: Tensor, labels: Tensor | None) -> str | None:
    """A message when integer ``labels`` ``[N]`` name classes the scores ``[N, K]`` lack."""
    classes = outputs.shape[-1]
    if labels is None or labels.is_floating_point() or outputs.ndim != 2:
        return None
    outside = sorted({int(v) for v in labels.flatten() if not 0 <= v < classes})
    if not outside:
        return None
    return (
        f"the probe's labels {outside[:5]} lie outside the model's {classes} outputs "
        f"[0, {classes - 1}]: they are shown as they are; `target`='label' would fail."
    )
