"""What a metric sees of one method's run: model, probe, targets, attribution, history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from lightning_xai.methods import ConfiguredMethod

__all__ = ["MetricContext"]


@dataclass
class MetricContext:
    """The inputs of :attr:`MetricSpec.compute <lightning_xai.metrics.MetricSpec>` for one method.

    Attributes:
        model: the model, in eval mode with grad available (inside the monitor's guard).
        method: the configured, bound method that made ``attribution``.
        inputs: probe inputs ``[N, ...]`` on the model's device.
        targets: class per sample ``[N]`` or ``None``.
        attribution: the method's attribution mapped to the input space, float, on the
            inputs' device: ``[N, ...]`` like ``inputs`` (``[N, 1, H, W]`` for layer methods).
        delta: convergence delta of the same attribution call (``[N]`` or ``[N * draws]``) when
            it was requested, else ``None``.
        previous: this method's attribution at the previous run of the metric (CPU) or ``None``.
        first: this method's attribution at the first run of the metric (CPU) or ``None``.
        seed: the probe seed; random metrics draw from the global RNG seeded with it.
        overrides: the method's ``attribute`` keywords replaced for this run (a time budget's
            reduced ``n_steps``...); :meth:`explain` uses them too, so that re-explanations
            cost what the attribution cost.
    """

    model: nn.Module
    method: ConfiguredMethod
    inputs: Tensor
    targets: Tensor | None
    attribution: Tensor
    delta: Tensor | None = None
    previous: Tensor | None = None
    first: Tensor | None = None
    seed: int = 0
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def explain(self, inputs: Tensor, targets: Tensor | int | None) -> Tensor:
        """The method on other inputs, mapped to the input space like ``attribution``.

        Args:
            inputs: ``[M, ...]``.
            targets: ``[M]``, one class, or ``None``.
        """
        chunk = self.method.spec.chunk_arg
        overrides = dict(self.overrides)
        configured = self.method.attribute_kwargs.get(chunk) if chunk else None
        if chunk == "internal_batch_size" and configured:
            # Captum's floor is the number of rows it sees (NoiseTunnel multiplies them): ask
            # for it instead of getting a warning at every call
            rows = inputs.shape[0] * int(self.method.noise_tunnel.get("nt_samples_batch_size", 1))
            overrides[chunk] = max(int(configured), rows)
        attribution = self.method.attribute(inputs, targets, **overrides)
        return self.method.to_input_space(attribution, inputs).float()
