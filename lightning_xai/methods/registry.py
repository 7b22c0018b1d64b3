"""The method registry: attribution algorithms by name, each declaring what it needs."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from captum.attr import LayerAttribution

from lightning_xai.registry import Registry, snake_case

__all__ = ["MethodSpec", "get_method", "list_methods", "register_method", "snake_case"]

Builder = type[Any]
"""``builder(model, layer=None, **init_kwargs)`` returns an object with ``.attribute(...)``."""

_CHUNK_ARGS = ("internal_batch_size", "perturbations_per_eval")


@dataclass(frozen=True)
class MethodSpec:
    """What one attribution algorithm needs and how its output is shown.

    Attributes:
        name: display name, Captum's class name for Captum's algorithms.
        builder: ``builder(model, layer=None, **init_kwargs)`` -> object with ``attribute``;
            a Captum class works as it is.
        needs_layer: takes a ``layer`` (``Layer*``, ``Neuron*``, ``GuidedGradCam``,
            ``InternalInfluence``): a dotted module name.
        needs_neuron: takes a ``neuron_selector`` (``Neuron*``), checked against the layer's
            output shape once the probe exists.
        takes_target: ``attribute`` takes a ``target`` (not ``LayerActivation``, most
            ``Neuron*``: they explain an activation, not an output).
        output: ``"input"`` (attribution shaped like the inputs) or ``"layer"`` (shaped like
            the layer's output: upsampled to the input when spatial, a bar chart when 1-D).
        baselines: ``"none"``, ``"optional"`` or ``"required"`` (a distribution of baselines:
            the SHAP family).
        min_baselines: least number of baselines in that distribution (2 for DeepLiftShap).
        chunk_arg: the keyword that bounds the work per forward pass, if any.
        default_chunk: rows (inputs) per forward pass by default, chosen by measurement (see
            bench/README.md). ``internal_batch_size`` counts rows; ``perturbations_per_eval``
            counts perturbations of the whole probe (N rows each), balanced over the
            perturbations of the call, except for ``per_input`` methods.
        sample_rows: the ``attribute`` keyword that counts the rows evaluated per sample
            (``n_steps`` of the path methods, ``n_samples`` of the sampling ones) and its default:
            their passes hold whole such units.
        per_input: evaluates one input at a time (Lime, KernelShap): its
            ``perturbations_per_eval`` counts rows.
        window: needs ``sliding_window_shapes`` (Occlusion); the default fits the input.
        feature_mask: accepts ``feature_mask``; the default groups image pixels in patches.
        needs_spatial: needs inputs with spatial dimensions ``[N, C, H, W]`` (Grad-CAM-like).
        needs_batch: compares samples with each other (FeaturePermutation): needs >= 2 probes.
        model_rules: ``"deeplift"`` (rewrites ``nn.ReLU`` and Captum's other supported
            nonlinear modules; a module called twice per forward breaks it) or ``"guided"``
            (overrides the backward of ``nn.ReLU`` modules), for the checks on the model.
        requires: importable modules the algorithm needs (``("sklearn",)`` for Lime's and
            KernelShap's default surrogate models), checked in ``setup``.
        has_delta: can return a convergence delta (completeness).
        multiplies_by_inputs: attribution is (gradient-like) x (input - baseline).
        random: draws random numbers (runs inside the guard's forked RNG).
        defaults: ``attribute`` keyword defaults that differ from the builder's.
    """

    name: str
    builder: Builder
    needs_layer: bool = False
    needs_neuron: bool = False
    takes_target: bool = True
    output: str = "input"
    baselines: str = "none"
    min_baselines: int = 1
    chunk_arg: str | None = None
    default_chunk: int | None = None
    sample_rows: tuple[str, int] | None = None
    per_input: bool = False
    window: bool = False
    feature_mask: bool = False
    needs_spatial: bool = False
    needs_batch: bool = False
    model_rules: str | None = None
    requires: tuple[str, ...] = ()
    has_delta: bool = False
    multiplies_by_inputs: bool = False
    random: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_captum(cls, algorithm: type[Any], **declared: Any) -> MethodSpec:
        """A spec for a Captum class: needs read off its signatures, ``declared`` on top.

        Works for any class with Captum's ``__init__(forward_func, [layer], ...)`` and
        ``attribute(inputs, ...)`` conventions; ``declared`` may also set ``name``.
        """
        init = inspect.signature(algorithm.__init__).parameters
        attr = inspect.signature(algorithm.attribute).parameters
        baselines = "none"
        if "baselines" in attr:
            required = attr["baselines"].default is inspect.Parameter.empty
            baselines = "required" if required else "optional"
        derived: dict[str, Any] = {
            "needs_layer": "layer" in init,
            "needs_neuron": "neuron_selector" in attr,
            "takes_target": "target" in attr,
            "output": "layer" if issubclass(algorithm, LayerAttribution) else "input",
            "baselines": baselines,
            "chunk_arg": next((a for a in _CHUNK_ARGS if a in attr), None),
            "sample_rows": next(
                ((a, attr[a].default) for a in ("n_steps", "n_samples") if a in attr), None
            ),
            "window": "sliding_window_shapes" in attr,
            "feature_mask": "feature_mask" in attr,
            "has_delta": "return_convergence_delta" in attr,
            "multiplies_by_inputs": "multiply_by_inputs" in init,
        }
        derived.update(declared)
        derived["defaults"] = dict(derived.get("defaults", {}))  # picklable (ddp_spawn)
        name = derived.pop("name", algorithm.__name__)
        return cls(name=name, builder=algorithm, **derived)

    @property
    def tag(self) -> str:
        """snake_case name used in logged tags."""
        return snake_case(self.name)


_METHODS: Registry[MethodSpec] = Registry("method", MethodSpec)


def register_method(spec: MethodSpec, *, overwrite: bool = False) -> MethodSpec:
    """Adds ``spec`` under its name (found by its snake_case too); returns it.

    Example:
        >>> from captum.attr import Saliency
        >>> spec = register_method(MethodSpec("MySaliency", Saliency), overwrite=True)
        >>> get_method("my_saliency").name
        'MySaliency'
    """
    return _METHODS.register(spec, overwrite=overwrite)


def get_method(name: str) -> MethodSpec:
    """The spec registered as ``name`` (class name or snake_case); ``ValueError`` listing the
    registered names if there is none."""
    return _METHODS.get(name)


def list_methods() -> list[str]:
    """Names of all registered methods, sorted (each also works in snake_case)."""
    return _METHODS.names()
