"""One configured method: a registered algorithm, the user's options, bound to a model."""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import NoiseTunnel
from torch import Tensor, nn

from lightning_xai.arguments import check_count
from lightning_xai.inputs import ModelInputs
from lightning_xai.methods.baselines import BaselineSpec, BaselineStrategy
from lightning_xai.methods.captum_catalog import NOISE_TUNNEL_ROWS
from lightning_xai.methods.checks import check_method, default_layer
from lightning_xai.methods.chunking import ChunkTuner, with_oom_retry
from lightning_xai.methods.quirks import ModelSurvey, per_call_copies
from lightning_xai.methods.registry import MethodSpec, get_method, snake_case

__all__ = ["ConfiguredMethod"]

NeuronSelector = int | tuple[int | slice, ...] | Callable[[Tensor], Tensor]
_NOISE_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
_NOISE_DEFAULTS = {"nt_samples": 10, "stdevs": 0.2}
_NOISE_KEYS = ("nt_type", "nt_samples", "nt_samples_batch_size", "stdevs")
_NOISE_NAME = re.compile(r"^(?:NoiseTunnel|noise_tunnel)\((\w+)\)$")
_MANAGED = {"self", "forward_func", "model", "layer", "inputs", "target", "baselines", "args"}
_MANAGED |= {"kwargs", "return_convergence_delta", "additional_forward_args", "neuron_selector"}
_COUNTS = {"n_steps", "n_samples", "nt_samples", "nt_samples_batch_size", "internal_batch_size"}
_COUNTS |= {"perturbations_per_eval"}
_PATCHES_PER_SIDE = 7
_WORK_PER_SAMPLE = 64  # rows per probe sample assumed when calibrating a perturbation method
_PIP_NAMES = {"sklearn": "scikit-learn"}


class ConfiguredMethod:
    """One entry of a monitor's ``methods=``: algorithm, options, layer and model.

    Args:
        key: the name the user gave: a registered name (``"IntegratedGradients"`` or
            ``"integrated_gradients"``), ``"NoiseTunnel(<name>)"``, or any label when
            ``options["method"]`` names the algorithm.
        options: keyword options. ``method``: algorithm name. ``layer``: dotted module name for
            layer and neuron methods (default: the last ``Conv2d``). ``neuron_selector``
            (``Neuron*``, required): an int (a unit of a 1-D layer), a tuple of indices or
            slices (one per dimension of the layer's output after the batch), or a callable
            ``layer_output [N, ...] -> [N]``. ``baselines``: see
            :class:`~lightning_xai.methods.baselines.BaselineStrategy`. ``noise_tunnel``:
            ``"smoothgrad"``, ``"smoothgrad_sq"``, ``"vargrad"`` or a dict of NoiseTunnel
            options. Every other key goes to the algorithm's constructor or its ``attribute``
            call, whichever takes it. Chunking knobs not given default to the measured rows
            per forward pass of :mod:`~lightning_xai.methods.captum_catalog`
            (``internal_batch_size``, ``perturbations_per_eval``, ``nt_samples_batch_size``).
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
        self.where = f"{owner}: method {key!r} ({self.spec.name})"
        self.layer_name: str | None = opts.pop("layer", None)
        self.neuron_selector: NeuronSelector | None = opts.pop("neuron_selector", None)
        baselines: BaselineSpec = opts.pop("baselines", None)
        self.noise_tunnel = _noise_tunnel_options(noise, key, owner)
        self._check_option_types(key, baselines)
        self.baselines: BaselineStrategy | None = None
        if self.spec.baselines != "none":
            self.baselines = BaselineStrategy(
                baselines,
                distribution=self.spec.baselines == "required",
                min_count=self.spec.min_baselines,
                where=self.where,
            )
        init_names = _keywords(self.spec.builder.__init__)
        attr_names = _keywords(self.spec.builder.attribute)
        unknown = sorted(set(opts) - init_names - attr_names)
        if unknown:
            valid = sorted(init_names | attr_names | {"method", "layer", "noise_tunnel"})
            extra = {"baselines"} if self.spec.baselines != "none" else set()
            extra |= {"neuron_selector"} if self.spec.needs_neuron else set()
            raise ValueError(
                f"{owner}: method {key!r} ({self.spec.name}) got unknown options {unknown}. "
                f"Valid options: {sorted({*valid, *extra})}."
            )
        for knob in _COUNTS & {*opts, *self.noise_tunnel}:
            check_count({**opts, **self.noise_tunnel}[knob], knob, f"{self.where}: option")
        self.init_kwargs = {k: v for k, v in opts.items() if k in init_names}
        self.attribute_kwargs = {**self.spec.defaults}
        self.attribute_kwargs.update({k: v for k, v in opts.items() if k in attr_names})
        self.layer: nn.Module | None = None
        self.layer_path: str | None = None
        self._model: nn.Module | None = None
        self._algorithm: Any = None
        self._forward: nn.Module | None = None
        self._reused: dict[str, int] = {}
        self.tuner: ChunkTuner | None = None

    def _check_option_types(self, key: str, baselines: BaselineSpec) -> None:
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
        if baselines is not None and self.spec.baselines == "none":
            raise ValueError(f"{self.where} takes no `baselines`.")
        selector = self.neuron_selector
        if not self.spec.needs_neuron:
            if selector is not None:
                raise ValueError(f"{self.where} takes no `neuron_selector`, got {selector!r}.")
            return
        if selector is None:
            raise ValueError(
                f"{self.where} explains one neuron of a layer and needs `neuron_selector`: an "
                "int (unit of a 1-D layer), a tuple of indices such as (channel, row, col), or "
                "a callable layer_output -> [N]; got none."
            )
        ok = isinstance(selector, int) and not isinstance(selector, bool)
        ok = ok or callable(selector)
        ok = ok or (
            isinstance(selector, tuple)
            and len(selector) > 0
            and all(isinstance(i, int | slice) and not isinstance(i, bool) for i in selector)
        )
        if not ok:
            raise TypeError(
                f"{self.where}: `neuron_selector` must be an int, a tuple of ints/slices or a "
                f"callable layer_output -> [N], got {selector!r}."
            )

    # -- setup -----------------------------------------------------------------------------
    def bind(
        self, model: nn.Module, calibrate: bool = False, forward: nn.Module | None = None
    ) -> None:
        """Resolves the layer on ``model`` and builds the algorithm (call in ``setup``).

        ``forward`` is what the algorithm calls (default ``model``; e.g. a
        :class:`~lightning_xai.targets.SelectOutput` around it); layers are found on ``model``.
        With ``calibrate``, the rows per forward pass are measured on the first call per
        input shape (:class:`~lightning_xai.methods.chunking.ChunkTuner`) instead of taken
        from the measured defaults; either way an out-of-memory error halves them and retries.

        Raises:
            ValueError: the layer is missing; the message lists the candidate layers.
            ModuleNotFoundError: an optional dependency of the algorithm is missing.
        """
        missing = [m for m in self.spec.requires if importlib.util.find_spec(m) is None]
        if missing and "interpretable_model" not in self.init_kwargs:
            raise ModuleNotFoundError(
                f"{self.where} fits its surrogate model with {missing[0]}, which is not "
                f"installed: `pip install {_PIP_NAMES.get(missing[0], missing[0])}`."
            )
        self._model = model
        self._forward = forward or model
        self._reused = {}
        self.tuner = ChunkTuner(backward=self.spec.chunk_arg == "internal_batch_size")
        self._calibrate = calibrate
        if self.spec.needs_layer:
            self.layer = _resolve_layer(model, self.layer_name, self.key, self.owner)
            self.layer_path = next(n for n, m in model.named_modules() if m is self.layer)
        self._build()

    def _build(self) -> None:
        if self.spec.needs_layer:
            algorithm = self.spec.builder(self._forward, self.layer, **self.init_kwargs)
        else:
            algorithm = self.spec.builder(self._forward, **self.init_kwargs)
        self._algorithm = NoiseTunnel(algorithm) if self.noise_tunnel else algorithm

    def check(self, inputs: Tensor | ModelInputs, survey: ModelSurvey) -> None:
        """Validates the method against the probe and what one forward showed; warns about
        silent failures; moves a default layer to the last ``Conv2d`` larger than 1x1 on the
        probe. See :func:`~lightning_xai.methods.checks.check_method`."""
        path = default_layer(self, survey)
        if path is not None and self._model is not None and path != self.layer_path:
            self.layer, self.layer_path = self._model.get_submodule(path), path
            self._build()
        self._reused = check_method(self, inputs, survey)

    # -- the work --------------------------------------------------------------------------
    def attribute(
        self, inputs: Tensor | ModelInputs, target: Tensor | None, **overrides: Any
    ) -> Tensor | tuple[Tensor, ...]:
        """Attributions for ``inputs [N, ...]`` towards ``target [N]`` (or ``None``).

        ``inputs`` may be :class:`~lightning_xai.inputs.ModelInputs`: several attributed
        tensors (a multi-input model; the result is then a tuple like Captum's) and Captum's
        ``additional_forward_args``.

        Methods that draw random numbers (``spec.random``) also seed NumPy's global RNG with
        ``torch.initial_seed()``: call ``torch.manual_seed`` first for a reproducible result
        (the monitor does, inside a guard that restores every RNG afterwards).

        ``overrides`` replace configured ``attribute`` keywords for this call only (e.g. a
        larger ``internal_batch_size`` for a larger batch).

        Returns:
            ``[N, ...]`` like ``inputs`` for primary and neuron methods (a tuple for several
            inputs); layer methods return the layer-shaped attribution (see
            :meth:`to_input_space`).
        """
        if self._algorithm is None:
            raise RuntimeError(f"{self.owner}: method {self.key!r} is not bound to a model yet.")
        batch = inputs if isinstance(inputs, ModelInputs) else ModelInputs.of(inputs)
        first = batch.first
        kwargs = dict(self.attribute_kwargs)
        if self.spec.takes_target:
            kwargs["target"] = target
        if self.neuron_selector is not None:
            kwargs["neuron_selector"] = self.neuron_selector
        if batch.extra:
            kwargs["additional_forward_args"] = batch.captum_extra
        if self.baselines is not None:
            kwargs["baselines"] = _per_input(batch, self.baselines)
        if self.spec.window and "sliding_window_shapes" not in kwargs:
            window = _per_input(batch, lambda t: _default_window(t.shape))
            kwargs["sliding_window_shapes"] = window
            kwargs.setdefault("strides", window)
        if self.spec.feature_mask and "feature_mask" not in kwargs:
            masks = _feature_masks(batch)
            if masks is not None:
                kwargs["feature_mask"] = masks
        if self.noise_tunnel:
            kwargs.update(self.noise_tunnel)
        kwargs.update(overrides)
        if self.spec.random:
            # Some Captum methods (Layer/NeuronGradientShap) draw from NumPy's global RNG:
            # seed it from torch's seed (no draw), so that a seeded run is reproducible.
            np.random.seed(torch.initial_seed() % 2**32)
        rewrite = per_call_copies(self._model, self._reused) if self._reused else nullcontext()

        def run(rows: int | None) -> Tensor | tuple[Tensor, ...]:
            with rewrite:
                chunks = self._chunks(rows, batch.size, kwargs)
                return self._algorithm.attribute(batch.captum_inputs, **kwargs, **chunks)

        rows = self._rows(batch, kwargs)
        if rows is None or self.tuner is None:
            return run(rows)
        return with_oom_retry(run, rows, lambda: self.tuner.shrink(first))

    def _rows(self, batch: ModelInputs, kwargs: dict[str, Any]) -> int | None:
        """Rows per forward pass this call: measured, or the default; ``None`` when the user
        set every chunking knob that applies (or the method has none)."""
        knobs = [k for k in (self.spec.chunk_arg,) if k] + (
            ["nt_samples_batch_size"] if self.noise_tunnel else []
        )
        if all(k in kwargs for k in knobs):
            return None
        default = NOISE_TUNNEL_ROWS if self.noise_tunnel else self.spec.default_chunk
        if default is None or self.tuner is None:  # no knob, or Captum's own default is kept
            return None
        key = tuple(batch.first.shape)
        if key not in self.tuner.choices:
            if self._calibrate and self._model is not None and batch.plain:
                steps = kwargs.get("n_steps", kwargs.get("nt_samples", _WORK_PER_SAMPLE))
                return self.tuner.rows(self._model, batch.first, batch.size * steps)
            self.tuner.choices[key] = default
        return self.tuner.choices[key]

    def _chunks(self, rows: int | None, n: int, kwargs: dict[str, Any]) -> dict[str, int]:
        """The chunking keywords for ``rows`` rows per pass over ``n`` probe samples, where
        the user set none."""
        if rows is None:
            return {}
        chunks: dict[str, int] = {}
        if self.spec.default_chunk is None:  # e.g. LayerFeatureAblation: Captum's 1 only
            pass
        elif self.spec.chunk_arg == "internal_batch_size":
            chunks["internal_batch_size"] = rows
        elif self.spec.chunk_arg == "perturbations_per_eval":
            chunks["perturbations_per_eval"] = rows if self.spec.per_input else max(1, rows // n)
        if self.noise_tunnel:
            chunks["nt_samples_batch_size"] = min(kwargs["nt_samples"], max(1, rows // n))
        return {k: v for k, v in chunks.items() if k not in kwargs}

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

    def to_input_space(
        self, attribution: Tensor | tuple[Tensor, ...], inputs: Tensor | ModelInputs
    ) -> Tensor | tuple[Tensor, ...]:
        """Maps a layer attribution onto the input grid: ``[N, 1, H, W]`` summed over channels
        and upsampled bilinearly (onto the first input with as many dimensions, for a
        multi-input model); input-shaped, 1-D (``[N, U]``) and per-input (tuple)
        attributions are returned as they are."""
        if self.spec.output != "layer" or not isinstance(attribution, Tensor):
            return attribution
        tensors = inputs.tensors if isinstance(inputs, ModelInputs) else (inputs,)
        grid = tensors[ModelInputs.grid_of(tensors, attribution.ndim)]
        if attribution.shape == grid.shape:
            return attribution
        if attribution.ndim == grid.ndim >= 3:
            summed = attribution.sum(dim=1, keepdim=True)
            mode = "bilinear" if grid.ndim == 4 else "linear"
            return F.interpolate(summed, size=grid.shape[2:], mode=mode, align_corners=False)
        return attribution


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
    return merged


def _default_window(shape: torch.Size) -> tuple[int, ...]:
    """Occlusion window: all channels x 1/7 of each spatial side, rounded up (so that 7
    windows cover a side: with ``side // 7`` Captum adds an 8th, mostly outside the input, to
    reach the edge); one feature if 1-D."""
    if len(shape) <= 2:
        return (1,)
    sides = tuple(-(-s // _PATCHES_PER_SIDE) for s in shape[2:])
    return (shape[1], *sides)


def _per_input(batch: ModelInputs, fn: Callable[[Tensor], Any]) -> Any:
    """``fn`` of the input, or a tuple of ``fn`` of each input of a multi-input model."""
    values = tuple(fn(t) for t in batch.tensors)
    return values if batch.multi else values[0]


def _feature_masks(batch: ModelInputs) -> Tensor | tuple[Tensor, ...] | None:
    """Feature masks of the perturbation methods: 7x7 patches of images ``[N, C, H, W]``;
    with several inputs, each element of the others is a feature, ids unique across inputs.
    ``None`` (Captum's default, one feature per element) for one non-image input."""
    if not batch.multi:
        first = batch.first
        return _patch_mask(first.shape, first.device) if first.ndim == 4 else None
    masks, offset = [], 0
    for t in batch.tensors:
        if t.ndim == 4:
            mask = _patch_mask(t.shape, t.device)
        else:
            mask = torch.arange(t[:1].numel(), device=t.device).reshape(1, *t.shape[1:])
        masks.append(mask + offset)
        offset += int(mask.max()) + 1
    return tuple(masks)


def _patch_mask(shape: torch.Size, device: torch.device) -> Tensor:
    """Feature mask ``[1, 1, H, W]``: a 7x7 grid of patches, shared by all channels."""
    height, width = shape[-2:]
    rows = torch.arange(height, device=device) * _PATCHES_PER_SIDE // height
    cols = torch.arange(width, device=device) * _PATCHES_PER_SIDE // width
    return (rows[:, None] * _PATCHES_PER_SIDE + cols[None, :])[None, None]
