"""One attribution call split into groups of samples, joined as if it were one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from lightning_xai.inputs import ModelInputs
from lightning_xai.methods.registry import MethodSpec

__all__ = ["in_groups", "splittable"]

_PER_SAMPLE = ("target", "baselines", "feature_mask")


def in_groups(
    attribute: Callable[[ModelInputs, dict[str, Any], int], Any],
    batch: ModelInputs,
    kwargs: dict[str, Any],
    rows: int,
) -> Any:
    """``attribute`` over groups of ``rows`` samples, joined as one call over ``batch``:
    per-sample keywords (targets, baselines, masks with ``N`` rows) are cut with the inputs."""
    n, parts = batch.size, []
    for start in range(0, n, rows):
        index = torch.arange(start, min(n, start + rows))
        part = batch.take(index)
        cut = {k: _cut(v, index, n) if k in _PER_SAMPLE else v for k, v in kwargs.items()}
        if "additional_forward_args" in kwargs:
            cut["additional_forward_args"] = part.captum_extra
        parts.append(attribute(part, cut, rows))
    return _join(parts)


def _cut(value: Any, index: Tensor, n: int) -> Any:
    if isinstance(value, tuple):
        return tuple(_cut(v, index, n) for v in value)
    if isinstance(value, Tensor) and value.ndim and value.shape[0] == n:
        return value[index.to(value.device)]
    return value


def _join(parts: list[Any]) -> Any:
    """Concatenates results along samples; tuples (several inputs; attribution and delta)
    element by element."""
    if isinstance(parts[0], tuple):
        return tuple(_join(list(group)) for group in zip(*parts, strict=True))
    return torch.cat(parts)


def splittable(spec: MethodSpec, noise_tunnel: Mapping[str, Any]) -> bool:
    """Whether a method may explain the probe in groups of samples (fewer rows per pass than
    samples): each sample's attribution depends on it alone and no random draw is shared (not
    the SHAP family's baseline distributions, not FeaturePermutation, not NoiseTunnel)."""
    return not (spec.random or spec.needs_batch or noise_tunnel) and spec.baselines != "required"
