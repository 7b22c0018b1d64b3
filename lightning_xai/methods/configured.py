"""One configured method: a registered algorithm, the user's options, bound to a model."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any, Literal, overload

import numpy as np
import torch
from captum.attr import NoiseTunnel
from torch import Tensor, nn

from lightning_xai.inputs import ModelInputs
from lightning_xai.methods.baselines import BaselineSpec, BaselineStrategy
from lightning_xai.methods.checks import check_method, default_layer
from lightning_xai.methods.chunking import (
    ChunkTuner,
    chunk_keywords,
    rows_per_pass,
    with_oom_retry,
)
from lightning_xai.methods.gradients import use_summed_gradients
from lightning_xai.methods.grouping import in_groups, splittable
from lightning_xai.methods.options import (
    COUNT_OPTIONS,
    NOISE_NAME,
    check_option_types,
    check_requirements,
    noise_tunnel_options,
    resolve_layer,
    split_options,
)
from lightning_xai.methods.quirks import ModelSurvey, per_call_copies
from lightning_xai.methods.registry import MethodSpec, get_method, snake_case
from lightning_xai.methods.results import Attribution, Inputs, NeuronSelector, Target, on_input_grid
from lightning_xai.methods.threads import ThreadTuner
from lightning_xai.methods.windows import default_window, feature_masks, per_input
from lightning_xai.validators import check_count, named_errors

__all__ = ["ConfiguredMethod"]


class ConfiguredMethod:
    """One entry of a monitor's ``methods=``: algorithm, options, layer and model.

    Args:
        key: the name the user gave: a registered name (``"IntegratedGradients"`` or
            ``"integrated_gradients"``), ``"NoiseTunnel(<name>)"``, or any label when
            ``options["method"]`` names the algorithm.
        options: keyword options. ``method``: algorithm name. ``layer``: dotted module name for
            layer and neuron methods (default: the last ``Conv2d``; without one, the token
            embedding: ``get_input_embeddings()`` or the only ``nn.Embedding``). ``neuron_selector``
            (``Neuron*``, required): an int (a unit of a 1-D layer), a tuple of indices or
            slices (one per dimension of the layer's output after the batch), or a callable
            ``layer_output [N, ...] -> [N]``. ``baselines``: see
            :class:`~lightning_xai.methods.baselines.BaselineStrategy`. ``noise_tunnel``:
            ``"smoothgrad"``, ``"smoothgrad_sq"``, ``"vargrad"`` or a dict of NoiseTunnel
            options. Every other key goes to the algorithm's constructor or its ``attribute``
            call, whichever takes it. Chunking knobs not given default to the measured rows
            per forward pass of :mod:`~lightning_xai.methods.captum_catalog`
            (``internal_batch_size``, ``perturbations_per_eval``, ``nt_samples_batch_size``).

    Example:
        >>> m = ConfiguredMethod("ig", {"method": "IntegratedGradients", "n_steps": 16})
        >>> m.tag, m.attribute_kwargs["n_steps"]
        ('ig', 16)
    """

    def __init__(self, key: str, options: Mapping[str, Any] | None = None) -> None:
        if not isinstance(key, str):
            raise TypeError(f"`methods` names must be strings, got {type(key).__name__}.")
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(
                f"options of method {key!r} must be a mapping of keyword arguments, "
                f"got {type(options).__name__}."
            )
        opts = dict(options or {})
        name = opts.pop("method", key)
        noise = opts.pop("noise_tunnel", None)
        match = NOISE_NAME.match(name) if isinstance(name, str) else None
        if match:
            name, noise = match.group(1), noise or "smoothgrad"
        try:
            self.spec: MethodSpec = get_method(name)
        except ValueError as err:
            raise ValueError(
                f"`methods` entry {key!r}: {err} Wrap any of them as 'NoiseTunnel(<name>)'."
            ) from None
        self.key = key
        self.tag = snake_case(key)
        self.where = f"method {key!r} ({self.spec.name})"
        self.layer_name: str | None = opts.pop("layer", None)
        self.neuron_selector: NeuronSelector | None = opts.pop("neuron_selector", None)
        baselines: BaselineSpec = opts.pop("baselines", None)
        self.noise_tunnel = noise_tunnel_options(noise, key)
        check_option_types(self.spec, self.where, self.layer_name, baselines, self.neuron_selector)
        self.baselines: BaselineStrategy | None = None
        if self.spec.baselines != "none":
            self.baselines = BaselineStrategy(
                baselines,
                distribution=self.spec.baselines == "required",
                min_count=self.spec.min_baselines,
                where=self.where,
            )
        self.init_kwargs, attribute_kwargs = split_options(self.spec, opts, self.where)
        self.attribute_kwargs = {**self.spec.defaults, **attribute_kwargs}
        counts = {**opts, **self.noise_tunnel}
        with named_errors(f"{self.where}: option"):
            for knob in sorted(COUNT_OPTIONS & set(counts)):
                check_count(knob, counts[knob])
        self.layer: nn.Module | None = None
        self.layer_path: str | None = None
        self._model: nn.Module | None = None
        self._algorithm: Any = None
        self._forward: nn.Module | None = None
        self._reused: dict[str, int] = {}
        self.tuner: ChunkTuner | None = None
        self.threads: ThreadTuner | None = None

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
        if "interpretable_model" not in self.init_kwargs:
            check_requirements(self.spec, self.where)
        self._model = model
        self._forward = forward or model
        self._reused = {}
        self.tuner = ChunkTuner(backward=self.spec.chunk_arg == "internal_batch_size")
        self.threads = ThreadTuner.of(model)
        self._calibrate = calibrate
        if self.spec.needs_layer:
            self.layer = resolve_layer(model, self.layer_name, self.key)
            self.layer_path = next(n for n, m in model.named_modules() if m is self.layer)
        self._build()

    def _build(self) -> None:
        if self.spec.needs_layer:
            algorithm = self.spec.builder(self._forward, self.layer, **self.init_kwargs)
        else:
            algorithm = self.spec.builder(self._forward, **self.init_kwargs)
        use_summed_gradients(algorithm)  # one autograd root per pass: the same gradients
        self._algorithm = NoiseTunnel(algorithm) if self.noise_tunnel else algorithm

    def check(self, inputs: Tensor | ModelInputs, survey: ModelSurvey) -> list[str]:
        """Validates the method against the probe and what one forward showed; returns notes
        on silent failures (for the user, once); moves a default layer to the last ``Conv2d``
        larger than 1x1 on the probe. See :func:`~lightning_xai.methods.checks.check_method`."""
        path = default_layer(self, survey)
        if path is not None and self._model is not None and path != self.layer_path:
            self.layer, self.layer_path = self._model.get_submodule(path), path
            self._build()
        self._reused, notes = check_method(self, inputs, survey)
        return notes

    # -- the work --------------------------------------------------------------------------
    @overload
    def attribute(
        self,
        inputs: Tensor,
        target: Target,
        *,
        return_convergence_delta: Literal[False] = ...,
        **overrides: Any,
    ) -> Tensor: ...
    @overload
    def attribute(
        self,
        inputs: Inputs,
        target: Target,
        *,
        return_convergence_delta: Literal[False] = ...,
        **overrides: Any,
    ) -> Attribution: ...
    @overload
    def attribute(
        self,
        inputs: Inputs,
        target: Target,
        *,
        return_convergence_delta: Literal[True],
        **overrides: Any,
    ) -> tuple[Attribution, Tensor]: ...
    def attribute(self, inputs: Inputs, target: Target, **overrides: Any) -> Any:
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
            raise RuntimeError(f"method {self.key!r} is not bound to a model yet.")
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
            kwargs["baselines"] = per_input(batch, self.baselines)
        if self.spec.window and "sliding_window_shapes" not in kwargs:
            window = per_input(batch, lambda t: default_window(t.shape))
            kwargs["sliding_window_shapes"] = window
            kwargs.setdefault("strides", window)
        if self.spec.feature_mask and "feature_mask" not in kwargs:
            masks = feature_masks(batch)
            if masks is not None:
                kwargs["feature_mask"] = masks
        if self.noise_tunnel:
            kwargs.update(self.noise_tunnel)
        kwargs.update(overrides)
        if self.spec.random:
            # Some Captum methods (Layer/NeuronGradientShap) draw from NumPy's global RNG:
            # seed it from torch's seed (no draw), so that a seeded run is reproducible.
            np.random.seed(torch.initial_seed() % 2**32)
        model, tuner = self._model, self.tuner
        rewrite: Any = nullcontext()
        if self._reused and model is not None:
            rewrite = per_call_copies(model, self._reused)

        split = splittable(self.spec, self.noise_tunnel)

        def run(rows: int | None) -> Any:
            with rewrite:
                if rows is not None and rows < batch.size and split:
                    return in_groups(self._attribute, batch, kwargs, rows)
                return self._attribute(batch, kwargs, rows)

        rows = rows_per_pass(
            self.tuner, self.spec, self.noise_tunnel, self._model, batch, kwargs, self._calibrate
        )

        def work() -> Any:
            if rows is None or tuner is None:
                return run(rows)
            return with_oom_retry(run, rows, lambda: tuner.shrink(first))

        if self.threads is None or model is None:
            return work()
        return self.threads.run(model, (self.key, tuple(first.shape)), work)

    def _attribute(self, batch: ModelInputs, kwargs: dict[str, Any], rows: int | None) -> Any:
        """One Captum call over ``batch`` with ``rows`` rows per pass."""
        chunks = chunk_keywords(self.spec, self.noise_tunnel, rows, batch, kwargs)
        return self._algorithm.attribute(batch.captum_inputs, **kwargs, **chunks)

    def attribute_with_delta(self, inputs: Tensor, target: Target) -> tuple[Attribution, Tensor]:
        """:meth:`attribute` and the convergence delta of the same call (``spec.has_delta``).

        Returns:
            ``(attribution, delta)``; ``delta`` is ``[N]``, or ``[N * draws]`` for methods that
            average draws (GradientShap, NoiseTunnel).
        """
        if not self.spec.has_delta:
            raise ValueError(f"method {self.key!r} ({self.spec.name}) has no convergence delta.")
        return self.attribute(inputs, target, return_convergence_delta=True)

    @overload
    def to_input_space(self, attribution: Tensor, inputs: Inputs) -> Tensor: ...
    @overload
    def to_input_space(self, attribution: Attribution, inputs: Inputs) -> Attribution: ...
    def to_input_space(self, attribution: Attribution, inputs: Inputs) -> Attribution:
        """Maps a layer attribution onto the input grid (see
        :func:`~lightning_xai.methods.results.on_input_grid`); other methods' attributions are
        returned as they are."""
        if self.spec.output != "layer" or not isinstance(attribution, Tensor):
            return attribution
        return on_input_grid(attribution, inputs)
