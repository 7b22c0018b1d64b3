"""Baselines as strategies: what "absence of signal" an attribution is measured against."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["BaselineStrategy", "gaussian_blur", "text_baselines"]

BaselineSpec = str | float | Tensor | Callable[[Tensor], Any] | Mapping[str, Any] | None
"""``"zeros"``, ``"mean"``, ``"uniform"``, ``"blur"``, ``"probe"``, a float, a tensor, a callable
``inputs -> baselines`` or a dict ``{"kind": ..., <options>}``."""

KINDS = ("zeros", "constant", "uniform", "blur", "mean", "probe")
_OPTIONS = {
    "zeros": set(),
    "constant": {"value"},
    "uniform": {"samples", "low", "high", "seed"},
    "blur": {"sigma"},
    "mean": set(),
    "probe": {"samples"},
}


class BaselineStrategy:
    """Turns a baseline spec into the tensor Captum gets, for one method.

    ================  ===========================================================  ==========
    kind              baselines for probe inputs ``[N, ...]``                       count
    ================  ===========================================================  ==========
    ``"zeros"``       zeros                                                        1
    float / constant  that value everywhere (``{"kind": "constant", "value": v}``)  1
    ``"uniform"``     uniform noise in [probe min, probe max] (``low``, ``high``),   N or
                      seeded (``seed``, default 0): the same at every run          ``samples``
    ``"blur"``        each input Gaussian-blurred (``sigma``, default side / 8)     N
    ``"mean"``        the probe's mean input                                       1
    ``"probe"``       the probe itself (first ``samples``): a background set        N or
                                                                                   ``samples``
    tensor            ``[B, ...]`` or one ``[...]`` like an input                  B or 1
    callable          ``inputs -> tensor`` (or float)                               any
    ================  ===========================================================  ==========

    Single-baseline methods (IntegratedGradients, DeepLift, the perturbation family...) take
    1 baseline for all inputs or one per input (N). The SHAP family (``distribution=True``)
    draws from a distribution of any size B >= ``min_count`` (DeepLiftShap needs 2 or more).

    Args:
        spec: see the table; ``None`` is ``"zeros"``, or ``"probe"`` when ``min_count > 1``.
        distribution: the method takes a distribution of baselines.
        min_count: least number of baselines in the distribution.
        where: prefix of error messages (``"method '<key>' (<Algorithm>)"``).

    Example:
        >>> BaselineStrategy("mean")(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([[2., 3.]])
    """

    def __init__(
        self,
        spec: BaselineSpec = None,
        *,
        distribution: bool = False,
        min_count: int = 1,
        where: str = "BaselineStrategy",
    ) -> None:
        self.where = where
        self.distribution = distribution
        self.min_count = min_count
        self.spec = spec
        if spec is None:
            spec = "probe" if min_count > 1 else "zeros"
        self.kind, self.options = self._parse(spec)
        if self.kind == "probe" and not distribution:
            raise ValueError(
                f"{where}: `baselines` 'probe' is a distribution of baselines for the SHAP "
                "family (GradientShap, DeepLiftShap and their Layer/Neuron forms); this method "
                f"takes one baseline. Use one of {[k for k in KINDS if k != 'probe']}."
            )
        if "samples" in self.options and not distribution:
            raise ValueError(
                f"{where}: `baselines` option 'samples' draws a distribution, which only the "
                "SHAP family takes; this method takes one baseline (or one per input)."
            )
        samples = self.options.get("samples")
        if samples is not None and (not isinstance(samples, int) or samples < 1):
            raise ValueError(
                f"{where}: `baselines` 'samples' must be an int >= 1, got {samples!r}."
            )
        if self.kind in ("zeros", "constant", "mean") and min_count > 1:
            self._too_few(1)

    # -- parsing ---------------------------------------------------------------------------
    def _parse(self, spec: BaselineSpec) -> tuple[str, dict[str, Any]]:
        where = self.where
        if isinstance(spec, bool):
            raise TypeError(f"{where}: `baselines` must not be a bool, got {spec!r}.")
        if isinstance(spec, int | float):
            return "constant", {"value": float(spec)}
        if isinstance(spec, Tensor):
            return "tensor", {"value": spec.detach()}
        if isinstance(spec, str):
            spec = {"kind": spec}
        if isinstance(spec, Mapping):
            options = dict(spec)
            kind = options.pop("kind", None)
            if kind not in KINDS:
                raise ValueError(
                    f"{where}: `baselines` kind must be one of {list(KINDS)}, a float, a tensor "
                    f"or a callable, got {kind!r}."
                )
            unknown = sorted(set(options) - _OPTIONS[kind])
            if unknown:
                raise ValueError(
                    f"{where}: `baselines` kind {kind!r} got unknown options {unknown}; valid: "
                    f"{sorted(_OPTIONS[kind])}."
                )
            return kind, options
        if callable(spec):
            return "callable", {"value": spec}
        raise TypeError(
            f"{where}: `baselines` must be one of {list(KINDS)}, a float, a tensor, a callable "
            f"inputs -> baselines or a dict with 'kind', got {type(spec).__name__}."
        )

    # -- the work --------------------------------------------------------------------------
    def __call__(self, inputs: Tensor) -> Tensor:
        """Baselines ``[B, ...]`` for ``inputs [N, ...]`` (B = 1, N or the distribution size)."""
        kind, options = self.kind, self.options
        if kind == "zeros":
            return torch.zeros_like(inputs[:1])
        if kind == "constant":
            return torch.full_like(inputs[:1], float(options["value"]))
        if kind == "mean":
            return inputs.mean(dim=0, keepdim=True)
        if kind == "probe":
            return inputs[: options.get("samples", inputs.shape[0])].clone()
        if kind == "blur":
            return gaussian_blur(inputs, options.get("sigma"))
        if kind == "uniform":
            count = options.get("samples", inputs.shape[0])
            low = float(options.get("low", inputs.min()))
            high = float(options.get("high", inputs.max()))
            generator = torch.Generator(device=inputs.device).manual_seed(options.get("seed", 0))
            shape = (count, *inputs.shape[1:])
            noise = torch.rand(shape, generator=generator, device=inputs.device, dtype=inputs.dtype)
            return low + (high - low) * noise
        value = options["value"](inputs) if kind == "callable" else options["value"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return torch.full_like(inputs[:1], float(value))
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{self.where}: the `baselines` callable must return a tensor or a float, got "
                f"{type(value).__name__}."
            )
        value = value.to(inputs.device, inputs.dtype)
        return value.unsqueeze(0) if value.ndim == inputs.ndim - 1 else value

    def check(self, inputs: Tensor) -> None:
        """Validates the baselines for these probe inputs (call once the probe exists).

        Raises:
            ValueError: the kind does not fit the inputs, the shapes do not match, or the
                distribution has fewer than ``min_count`` baselines.
        """
        if self.kind == "blur" and inputs.ndim < 3:
            raise ValueError(
                f"{self.where}: `baselines` 'blur' needs inputs with spatial dimensions "
                f"[N, C, ...]; the probe is {tuple(inputs.shape)}. Use 'zeros', 'mean' or "
                "'uniform' for tabular inputs."
            )
        baselines = self(inputs)
        if baselines.shape[1:] != inputs.shape[1:]:
            raise ValueError(
                f"{self.where}: `baselines` must be shaped like the inputs {tuple(inputs.shape)} "
                f"(with any first dimension), got {tuple(baselines.shape)}."
            )
        count = baselines.shape[0]
        if self.distribution:
            if count < self.min_count:
                self._too_few(count)
        elif count not in (1, inputs.shape[0]):
            raise ValueError(
                f"{self.where}: takes one baseline for all inputs or one per input (1 or "
                f"{inputs.shape[0]}), got {count}."
            )

    def _too_few(self, count: int) -> None:
        raise ValueError(
            f"{self.where}: needs a distribution of at least {self.min_count} baselines, "
            f"`baselines` {self._describe()} gives {count}. Pass e.g. `baselines='probe'` (the "
            "probe samples), `{'kind': 'uniform', 'samples': 8}`, or a tensor [B, ...] with "
            f"B >= {self.min_count}; or use the single-baseline form of the method "
            "(DeepLift for DeepLiftShap)."
        )

    def _describe(self) -> str:
        if isinstance(self.spec, Tensor):
            return f"Tensor{tuple(self.spec.shape)}"
        return repr(self.spec) if not callable(self.spec) else "callable"

    def __repr__(self) -> str:
        return f"BaselineStrategy({self._describe()}, distribution={self.distribution})"


def gaussian_blur(inputs: Tensor, sigma: float | None = None) -> Tensor:
    """Gaussian blur over the spatial dimensions, channel by channel (separable convolutions).

    Args:
        inputs: ``[N, C, *spatial]`` with 1 to 3 spatial dimensions.
        sigma: standard deviation in pixels; default: the shortest side / 8 (at least 0.5).
            Borders are padded by replication.

    Returns:
        ``[N, C, *spatial]``, same dtype and device.

    Example:
        >>> x = torch.zeros(1, 1, 9, 9); x[0, 0, 4, 4] = 1
        >>> y = gaussian_blur(x, 1.0)
        >>> round(float(y.sum()), 4), bool(y[0, 0, 4, 4] < 1)
        (1.0, True)
    """
    spatial = inputs.ndim - 2
    if not 1 <= spatial <= 3:
        raise ValueError(
            f"gaussian_blur: `inputs` must be [N, C, *spatial] with 1-3 spatial dims, got shape "
            f"{tuple(inputs.shape)}."
        )
    if sigma is None:
        sigma = max(0.5, min(inputs.shape[2:]) / 8)
    if sigma <= 0:
        raise ValueError(f"gaussian_blur: `sigma` must be > 0, got {sigma}.")
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, device=inputs.device, dtype=inputs.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = inputs.shape[1]
    conv = (F.conv1d, F.conv2d, F.conv3d)[spatial - 1]
    out = inputs
    for axis in range(spatial):
        shape = [1] * spatial
        shape[axis] = kernel.numel()
        weight = kernel.reshape(1, 1, *shape).expand(channels, 1, *shape).contiguous()
        pad = [0, 0] * spatial
        pad[2 * (spatial - 1 - axis)] = pad[2 * (spatial - 1 - axis) + 1] = radius
        out = conv(F.pad(out, pad, mode="replicate"), weight, groups=channels)
    return out


def text_baselines(strategy: BaselineStrategy | None, baseline: Any) -> BaselineStrategy | None:
    """Captum's text baseline (``baseline``: the pad id, special tokens kept) in place of the
    default of a method on token ids; a strategy the user chose is kept."""
    if strategy is not None and strategy.spec is None and strategy.min_count == 1:
        return BaselineStrategy(baseline, distribution=strategy.distribution, where=strategy.where)
    return strategy
