"""One configured method: a registered algorithm, the user's options, bound to a model."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from captum.attr import NoiseTunnel
from torch import Tensor, nn

from lightning_xai.methods.registry import MethodSpec, get_method, snake_case

__all__ = ["ConfiguredMethod"]

Baselines = float | Tensor | Callable[[Tensor], Tensor] | None
_NOISE_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
_NOISE_DEFAULTS = {"nt_samples": 10, "stdevs": 0.2}
_NOISE_KEYS = ("nt_type", "nt_samples", "nt_samples_batch_size", "stdevs")
_NOISE_NAME = re.compile(r"^(?:NoiseTunnel|noise_tunnel)\((\w+)\)$")
_MANAGED = {"self", "forward_func", "model", "layer", "inputs", "target", "baselines", "args"}
_MANAGED |= {"kwargs", "return_convergence_delta", "additional_forward_args"}
_PATCHES_PER_SIDE = 7


class ConfiguredMethod:
    """One entry of a monitor's ``methods=``: algorithm, options, layer and model.

    Args:
        key: the name the user gave: a registered name (``"IntegratedGradients"`` or
            ``"integrated_gradients"``), ``"NoiseTunnel(<name>)"``, or any label when
            ``options["method"]`` names the algorithm.
        options: keyword options. ``method``: algorithm name. ``layer``: dotted module name for
            layer methods (default: the last ``Conv2d``). ``baselines``: a float, a tensor, or a
            callable ``inputs -> baselines``. ``noise_tunnel``: ``"smoothgrad"``,
            ``"smoothgrad_sq"``, ``"vargrad"`` or a dict of NoiseTunnel options. Every other
            key goes to the algorithm's constructor or its ``attribute`` call, whichever takes it.
        owner: class name used in error messages.

    Example:
        >>> m = ConfiguredMethod("ig", {"method": "IntegratedGradients", "n_steps": 16})
        >>> m.tag, m.attribute_kwargs["n_steps"]
        ('ig', 16)
    """

    def __init__(
        self, key: str, options: Mapping[str, Any] | None = None, owner: str = "AttributionMonitor"
    ) -> None:
        if not isinstance(key, str):
            raise TypeError(f"{owner}: `methods` names must be strings, got {type(key).__name__}.")
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(
                f"{owner}: options of method {key!r} must be a mapping of keyword arguments, "
                f"got {type(options).__name__}."
            )
        opts = dict(options or {})
        name = opts.pop("method", key)
        noise = opts.pop("noise_tunnel", None)
        match = _NOISE_NAME.match(name) if isinstance(name, str) else None
        if match:
            name, noise = match.group(1), noise or "smoothgrad"
        try:
            self.spec: MethodSpec = get_method(name)
        except ValueError as err:
            raise ValueError(
                f"{owner}: `methods` entry {key!r}: {err} Wrap any of them as "
                "'NoiseTunnel(<name>)'."
            ) from None
        self.key = key
        self.owner = owner
        self.tag = snake_case(key)
        self.layer_name: str | None = opts.pop("layer", None)
        self.baselines: Baselines = opts.pop("baselines", None)
        self.noise_tunnel = _noise_tunnel_options(noise, key, owner)
        self._check_option_types(key)
        init_names = _keywords(self.spec.builder.__init__)
        attr_names = _keywords(self.spec.builder.attribute)
        unknown = sorted(set(opts) - init_names - attr_names)
        if unknown:
            valid = sorted(init_names | attr_names | {"method", "layer", "noise_tunnel"})
            if self.spec.baselines != "none":
                valid = sorted({*valid, "baselines"})
            raise ValueError(
                f"{owner}: method {key!r} ({self.spec.name}) got unknown options {unknown}. "
                f"Valid options: {valid}."
            )
        self.init_kwargs = {k: v for k, v in opts.items() if k in init_names}
        self.attribute_kwargs = {**self.spec.defaults}
        self.attribute_kwargs.update({k: v for k, v in opts.items() if k in attr_names})
        chunk = self.spec.chunk_arg
        if chunk and self.spec.default_chunk and chunk not in self.attribute_kwargs:
            self.attribute_kwargs[chunk] = self.spec.default_chunk
        self.layer: nn.Module | None = None
        self._algorithm: Any = None

    def _check_option_types(self, key: str) -> None:
        if self.layer_name is not None:
            if not self.spec.needs_layer:
                raise ValueError(
                    f"{self.owner}: method {key!r} ({self.spec.name}) takes no `layer`, got "
                    f"{self.layer_name!r}."
                )
            if not isinstance(self.layer_name, str):
                raise TypeError(
                    f"{self.owner}: `layer` of method {key!r} must be a dotted module name "
                    f"(str), got {type(self.layer_name).__name__}."
                )
        if self.baselines is not None:
            if self.spec.baselines == "none":
                raise ValueError(
                    f"{self.owner}: method {key!r} ({self.spec.name}) takes no `baselines`."
                )
            if not isinstance(self.baselines, int | float | Tensor) and not callable(
                self.baselines
            ):
                raise TypeError(
                    f"{self.owner}: `baselines` of method {key!r} must be a float, a tensor or a "
                    f"callable inputs -> baselines, got {type(self.baselines).__name__}."
                )

    # -- setup -----------------------------------------------------------------------------
    def bind(self, model: nn.Module) -> None:
        """Resolves the layer on ``model`` and builds the algorithm (call in ``setup``).

        Raises:
            ValueError: the layer is missing; the message lists the candidate layers.
        """
        if self.spec.needs_layer:
            self.layer = _resolve_layer(model, self.layer_name, self.key, self.owner)
            algorithm = self.spec.builder(model, self.layer, **self.init_kwargs)
        else:
            algorithm = self.spec.builder(model, **self.init_kwargs)
        self._algorithm = NoiseTunnel(algorithm) if self.noise_tunnel else algorithm

    # -- the work --------------------------------------------------------------------------
    def attribute(self, inputs: Tensor, target: Tensor | None, **overrides: Any) -> Tensor:
        """Attributions for ``inputs [N, ...]`` towards ``target [N]`` (or ``None``).

        ``overrides`` replace configured ``attribute`` keywords for this call only (e.g. a
        larger ``internal_batch_size`` for a larger batch).

        Returns:
            ``[N, ...]`` like ``inputs`` for primary methods; layer methods return the
            layer-shaped attribution (see :meth:`to_input_space`).
        """
        if self._algorithm is None:
            raise RuntimeError(f"{self.owner}: method {self.key!r} is not bound to a model yet.")
        kwargs = dict(self.attribute_kwargs)
        if self.spec.baselines != "none":
            kwargs["baselines"] = self._baselines(inputs)
        if self.spec.window and "sliding_window_shapes" not in kwargs:
            window = _default_window(inputs.shape)
            kwargs["sliding_window_shapes"] = window
            kwargs.setdefault("strides", window)
        if self.spec.feature_mask and "feature_mask" not in kwargs and inputs.ndim == 4:
            kwargs["feature_mask"] = _patch_mask(inputs.shape, inputs.device)
        if self.noise_tunnel:
            kwargs.update(self.noise_tunnel)
        kwargs.update(overrides)
        return self._algorithm.attribute(inputs, target=target, **kwargs)

    def attribute_with_delta(self, inputs: Tensor, target: Tensor | None) -> tuple[Tensor, Tensor]:
        """:meth:`attribute` and the convergence delta of the same call (``spec.has_delta``).

        Returns:
            ``(attribution, delta)``; ``delta`` is ``[N]``, or ``[N * draws]`` for methods that
            average draws (GradientShap, NoiseTunnel).
        """
        if not self.spec.has_delta:
            raise ValueError(
                f"{self.owner}: method {self.key!r} ({self.spec.name}) has no convergence delta."
            )
        attribution, delta = self.attribute(inputs, target, return_convergence_delta=True)
        return attribution, delta

    def to_input_space(self, attribution: Tensor, inputs: Tensor) -> Tensor:
        """Maps a layer attribution onto the input grid: ``[N, 1, H, W]`` summed over channels
        and upsampled bilinearly; input-shaped attributions are returned as they are."""
        if self.spec.output != "layer" or attribution.shape == inputs.shape:
            return attribution
        if attribution.ndim == inputs.ndim >= 3:
            summed = attribution.sum(dim=1, keepdim=True)
            mode = "bilinear" if inputs.ndim == 4 else "linear"
            return F.interpolate(summed, size=inputs.shape[2:], mode=mode, align_corners=False)
        return attribution

    def _baselines(self, inputs: Tensor) -> Tensor | float | None:
        value = self.baselines
        if callable(value) and not isinstance(value, Tensor):
            value = value(inputs)
        if isinstance(value, Tensor):
            return value.to(inputs.device, inputs.dtype)
        if value is None and self.spec.baselines == "required":
            return torch.zeros_like(inputs[:1])
        if isinstance(value, int | float) and self.spec.baselines == "required":
            return torch.full_like(inputs[:1], float(value))
        return value


def _resolve_layer(model: nn.Module, name: str | None, key: str, owner: str) -> nn.Module:
    if name is None:
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError(
                f"{owner}: method {key!r} needs a `layer` and the model has no Conv2d to default "
                f"to. Pass `layer=` one of: {_layer_names(model)}."
            )
        return convs[-1]
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(
            f"{owner}: method {key!r}: `layer` {name!r} is not a module of "
            f"{type(model).__name__}. Valid layers: {_layer_names(model)}."
        ) from None


def _layer_names(model: nn.Module, limit: int = 40) -> list[str]:
    names = [n for n, _ in model.named_modules() if n]
    return names if len(names) <= limit else [*names[:limit], f"... ({len(names) - limit} more)"]


def _keywords(function: Callable[..., Any]) -> set[str]:
    params = inspect.signature(function).parameters.values()
    named = {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return named - _MANAGED


def _noise_tunnel_options(noise: Any, key: str, owner: str) -> dict[str, Any]:
    if noise is None or noise is False:
        return {}
    options: dict[str, Any] = {"nt_type": noise} if isinstance(noise, str) else noise
    if noise is True:
        options = {"nt_type": "smoothgrad"}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"{owner}: `noise_tunnel` of method {key!r} must be one of {list(_NOISE_TYPES)} or a "
            f"dict of {list(_NOISE_KEYS)}, got {type(noise).__name__}."
        )
    unknown = sorted(set(options) - set(_NOISE_KEYS))
    if unknown:
        raise ValueError(
            f"{owner}: `noise_tunnel` of method {key!r} got unknown options {unknown}. "
            f"Valid: {list(_NOISE_KEYS)}."
        )
    merged = {"nt_type": "smoothgrad", **_NOISE_DEFAULTS, **options}
    if merged["nt_type"] not in _NOISE_TYPES:
        raise ValueError(
            f"{owner}: `noise_tunnel` type of method {key!r} must be one of {list(_NOISE_TYPES)}, "
            f"got {merged['nt_type']!r}."
        )
    merged.setdefault("nt_samples_batch_size", merged["nt_samples"])
    return merged


def _default_window(shape: torch.Size) -> tuple[int, ...]:
    """Occlusion window: all channels x a 1/7 patch of each spatial side; one feature if 1-D."""
    if len(shape) <= 2:
        return (1,)
    sides = tuple(max(1, s // _PATCHES_PER_SIDE) for s in shape[2:])
    return (shape[1], *sides)


def _patch_mask(shape: torch.Size, device: torch.device) -> Tensor:
    """Feature mask ``[1, 1, H, W]``: a 7x7 grid of patches, shared by all channels."""
    height, width = shape[-2:]
    rows = torch.arange(height, device=device) * _PATCHES_PER_SIDE // height
    cols = torch.arange(width, device=device) * _PATCHES_PER_SIDE // width
    return (rows[:, None] * _PATCHES_PER_SIDE + cols[None, :])[None, None]
