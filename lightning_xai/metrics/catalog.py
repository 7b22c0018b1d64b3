"""The built-in metrics in the registry: each pure function with its adapter from a context."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from lightning_xai.methods import MethodSpec
from lightning_xai.metrics.captum_metrics import (
    completeness,
    infidelity,
    sensitivity_max,
)
from lightning_xai.metrics.complexity import complexity, sparseness
from lightning_xai.metrics.context import MetricContext
from lightning_xai.metrics.perturbation import ACTIVATIONS, deletion, insertion
from lightning_xai.metrics.randomization import randomization, randomized_copy
from lightning_xai.metrics.registry import MetricSpec, register_metric
from lightning_xai.metrics.similarity import agreement, drift
from lightning_xai.targets import SelectOutput

__all__ = ["BUILTIN_METRICS"]

Check = Callable[[Any], str | None]


# -- option checks: value -> what it must be, or None ---------------------------------------
def _positive_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else "a positive int"


def _optional_positive_int(value: Any) -> str | None:
    return None if value is None else _positive_int(value)


def _positive_float(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return None if ok else "a positive number"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _choice(*choices: Any) -> Check:
    return lambda value: None if value in choices else f"one of {list(choices)}"


def _baseline(value: Any) -> str | None:
    ok = isinstance(value, int | float | Tensor) and not isinstance(value, bool)
    return None if ok or callable(value) else "a float, a tensor or a callable inputs -> baseline"


def _optional_name(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "a dotted module name or None"


def _int(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) else "an int"


# -- adapters: context -> per-sample values -----------------------------------------------
def _input_shaped(attribution: Tensor, inputs: Tensor) -> Tensor:
    """A ``[N, 1, ...]`` map (layer method) spread evenly over the inputs' channels."""
    if attribution.shape == inputs.shape:
        return attribution
    if attribution.ndim == inputs.ndim and attribution.shape[1] == 1:
        return attribution.expand_as(inputs) / inputs.shape[1]
    raise ValueError(
        f"the attribution {tuple(attribution.shape)} does not match the inputs "
        f"{tuple(inputs.shape)}."
    )


def _multiplies(ctx: MetricContext) -> bool:
    spec = ctx.method.spec
    return (
        spec.multiplies_by_inputs
        and spec.output == "input"
        and bool(ctx.method.init_kwargs.get("multiply_by_inputs", True))
    )


def _baselines(ctx: MetricContext) -> Tensor | float | None:
    """The method's baselines as one reference point for infidelity's perturbation scaling."""
    strategy = ctx.method.baselines
    if strategy is None or not _multiplies(ctx):
        return None
    value = strategy(ctx.inputs).to(ctx.inputs.device, ctx.inputs.dtype)
    if value.shape[0] != ctx.inputs.shape[0]:  # a distribution of baselines: its mean
        value = value.mean(dim=0, keepdim=True)
    return value


def _infidelity(ctx: MetricContext, **options: Any) -> Tensor:
    return infidelity(
        ctx.model,
        ctx.inputs,
        _input_shaped(ctx.attribution, ctx.inputs),
        ctx.targets,
        multiplies_by_inputs=_multiplies(ctx),
        baselines=_baselines(ctx),
        **options,
    )


def _sensitivity_max(ctx: MetricContext, **options: Any) -> Tensor:
    return sensitivity_max(
        ctx.explain, ctx.inputs, ctx.targets, attributions=ctx.attribution, **options
    )


def _completeness(ctx: MetricContext) -> Tensor:
    delta = ctx.delta
    if delta is None:  # not requested with the attribution: one extra call
        _, delta = ctx.method.attribute_with_delta(ctx.inputs, ctx.targets)
    return completeness(delta, ctx.inputs.shape[0])


def _has_delta(spec: MethodSpec) -> str | None:
    return None if spec.has_delta else f"{spec.name} returns no convergence delta"


def _deletion(ctx: MetricContext, **options: Any) -> Tensor:
    return deletion(ctx.model, ctx.inputs, ctx.attribution, ctx.targets, **options)


def _insertion(ctx: MetricContext, **options: Any) -> Tensor:
    return insertion(ctx.model, ctx.inputs, ctx.attribution, ctx.targets, **options)


def _randomization(ctx: MetricContext, layer: str | None, seed: int) -> Tensor:
    # The user's model is randomised (its layer names), seen through the same output selection.
    selected = ctx.model if isinstance(ctx.model, SelectOutput) else None
    inner = randomized_copy(ctx.model if selected is None else selected.model, layer, seed)
    twin_model: nn.Module = inner
    if selected is not None:
        twin_model = SelectOutput(inner, selected.transform)
        twin_model.keys = selected.keys
    twin = copy.copy(ctx.method)  # same options, bound to the twin (the original stays bound)
    twin.bind(inner, forward=twin_model)
    other = MetricContext(
        twin_model, twin, ctx.inputs, ctx.targets, ctx.attribution, overrides=ctx.overrides
    )
    return randomization(ctx.attribution, other.explain(ctx.inputs, ctx.targets))


def _drift(ctx: MetricContext) -> dict[str, Tensor]:
    if ctx.previous is None or ctx.first is None:
        return {}  # the first run is the reference: nothing to compare with yet
    # A time budget may explain fewer (the first) probes in some runs: compare those rows.
    rows = min(len(ctx.attribution), len(ctx.previous), len(ctx.first))
    current = ctx.attribution.detach().float().cpu()[:rows]
    since_previous = drift(current, ctx.previous[:rows])
    since_first = drift(current, ctx.first[:rows])
    return {
        "spearman_previous": since_previous["spearman"],
        "cosine_previous": since_previous["cosine"],
        "spearman_first": since_first["spearman"],
        "cosine_first": since_first["cosine"],
    }


def _agreement(attributions: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return agreement(attributions)


_CURVE_DEFAULTS = {
    "steps": 10,
    "baseline": 0.0,
    "activation": "auto",
    "max_examples_per_batch": None,
}
_CURVE_CHECKS: dict[str, Check] = {
    "steps": _positive_int,
    "baseline": _baseline,
    "activation": _choice(*ACTIVATIONS),
    "max_examples_per_batch": _optional_positive_int,
}

BUILTIN_METRICS: tuple[MetricSpec, ...] = tuple(
    register_metric(spec, overwrite=True)
    for spec in (
        MetricSpec(
            "infidelity", infidelity, _infidelity, "lower",
            "n_perturb_samples + 1 forwards of the probe", needs_forward=True,
            defaults={"n_perturb_samples": 10, "stdevs": 0.003, "normalize": False,
                      "max_examples_per_batch": None},
            checks={"n_perturb_samples": _positive_int, "stdevs": _positive_float,
                    "normalize": _bool, "max_examples_per_batch": _optional_positive_int},
        ),
        MetricSpec(
            "sensitivity_max", sensitivity_max, _sensitivity_max, "lower",
            "one attribution of n_perturb_samples x the probe", needs_reattribution=True,
            defaults={"n_perturb_samples": 10, "perturb_radius": 0.02, "norm_ord": "fro",
                      "max_examples_per_batch": None},
            checks={"n_perturb_samples": _positive_int, "perturb_radius": _positive_float,
                    "max_examples_per_batch": _optional_positive_int},
        ),
        MetricSpec(
            "completeness", completeness, _completeness, "lower",
            "free: the delta comes with the attribution call", needs_delta=True,
            applies=_has_delta,
        ),
        MetricSpec("sparseness", sparseness, lambda ctx: sparseness(ctx.attribution), "higher",
                   "free: reads the attribution"),
        MetricSpec("complexity", complexity, lambda ctx: complexity(ctx.attribution), "lower",
                   "free: reads the attribution"),
        MetricSpec(
            "deletion", deletion, _deletion, "lower", "(steps + 1) forwards of the probe",
            needs_forward=True, defaults=_CURVE_DEFAULTS, checks=_CURVE_CHECKS,
        ),
        MetricSpec(
            "insertion", insertion, _insertion, "higher", "(steps + 1) forwards of the probe",
            needs_forward=True, defaults=_CURVE_DEFAULTS, checks=_CURVE_CHECKS,
        ),
        MetricSpec(
            "randomization", randomization, _randomization, "lower",
            "a copy of the model + one attribution", needs_reattribution=True,
            defaults={"layer": None, "seed": 0}, checks={"layer": _optional_name, "seed": _int},
        ),
        MetricSpec("drift", drift, _drift, "neutral",
                   "free: keeps the previous and first attribution (CPU)", remembers=True),
        MetricSpec("agreement", agreement, _agreement, "neutral",
                   "free: compares the methods' attributions", cross_method=True),
    )
)  # fmt: skip
