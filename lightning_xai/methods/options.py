"""Parsing of a method's options: NoiseTunnel, keywords, layer, option types."""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from lightning_xai.hf_models import input_embeddings
from lightning_xai.methods.baselines import BaselineSpec
from lightning_xai.methods.registry import MethodSpec

__all__ = [
    "NOISE_NAME",
    "check_option_types",
    "check_requirements",
    "keywords",
    "layer_names",
    "noise_tunnel_options",
    "resolve_layer",
    "split_options",
]

_NOISE_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
_NOISE_DEFAULTS = {"nt_samples": 10, "stdevs": 0.2}
_NOISE_KEYS = ("nt_type", "nt_samples", "nt_samples_batch_size", "stdevs")
NOISE_NAME = re.compile(r"^(?:NoiseTunnel|noise_tunnel)\((\w+)\)$")
"""``NoiseTunnel(<name>)``: a method wrapped in Captum's NoiseTunnel."""
_PIP_NAMES = {"sklearn": "scikit-learn"}
_MANAGED = {"self", "forward_func", "model", "layer", "inputs", "target", "baselines", "args"}
_MANAGED |= {"kwargs", "return_convergence_delta", "additional_forward_args", "neuron_selector"}


COUNT_OPTIONS = frozenset(
    {"n_steps", "n_samples", "nt_samples", "nt_samples_batch_size", "internal_batch_size"}
    | {"perturbations_per_eval"}
)
"""Options that must be positive ints."""


def resolve_layer(model: nn.Module, name: str | None, key: str) -> nn.Module:
    if name is None:
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        embedding = None if convs else input_embeddings(model)
        if embedding is not None:  # a text model: its token embedding
            return embedding
        if not convs:
            raise ValueError(
                f"method {key!r} needs a `layer` and the model has no Conv2d or token "
                f"embedding to default to. Pass `layer=` one of: {layer_names(model)}."
            )
        return convs[-1]
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(
            f"method {key!r}: `layer` {name!r} is not a module of "
            f"{type(model).__name__}. Valid layers: {layer_names(model)}."
        ) from None


def layer_names(model: nn.Module, limit: int = 40) -> list[str]:
    names = [n for n, _ in model.named_modules() if n]
    return names if len(names) <= limit else [*names[:limit], f"... ({len(names) - limit} more)"]


def keywords(function: Callable[..., Any]) -> set[str]:
    params = inspect.signature(function).parameters.values()
    named = {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return named - _MANAGED


def noise_tunnel_options(noise: Any, key: str) -> dict[str, Any]:
    if noise is None or noise is False:
        return {}
    options: dict[str, Any] = {"nt_type": noise} if isinstance(noise, str) else noise
    if noise is True:
        options = {"nt_type": "smoothgrad"}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"`noise_tunnel` of method {key!r} must be one of {list(_NOISE_TYPES)} or a "
            f"dict of {list(_NOISE_KEYS)}, got {type(noise).__name__}."
        )
    unknown = sorted(set(options) - set(_NOISE_KEYS))
    if unknown:
        raise ValueError(
            f"`noise_tunnel` of method {key!r} got unknown options {unknown}. "
            f"Valid: {list(_NOISE_KEYS)}."
        )
    merged = {"nt_type": "smoothgrad", **_NOISE_DEFAULTS, **options}
    if merged["nt_type"] not in _NOISE_TYPES:
        raise ValueError(
            f"`noise_tunnel` type of method {key!r} must be one of {list(_NOISE_TYPES)}, "
            f"got {merged['nt_type']!r}."
        )
    return merged


def check_option_types(
    spec: MethodSpec, where: str, layer_name: Any, baselines: BaselineSpec, selector: Any
) -> None:
    """Raises when ``layer``, ``baselines`` or ``neuron_selector`` do not fit ``spec``
    (``where`` names the method in messages)."""
    if layer_name is not None:
        if not spec.needs_layer:
            raise ValueError(f"{where} takes no `layer`, got {layer_name!r}.")
        if not isinstance(layer_name, str):
            raise TypeError(
                f"{where}: `layer` must be a dotted module name (str), got "
                f"{type(layer_name).__name__}."
            )
    if baselines is not None and spec.baselines == "none":
        raise ValueError(f"{where} takes no `baselines`.")
    if not spec.needs_neuron:
        if selector is not None:
            raise ValueError(f"{where} takes no `neuron_selector`, got {selector!r}.")
        return
    if selector is None:
        raise ValueError(
            f"{where} explains one neuron of a layer and needs `neuron_selector`: an "
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
            f"{where}: `neuron_selector` must be an int, a tuple of ints/slices or a "
            f"callable layer_output -> [N], got {selector!r}."
        )


def split_options(
    spec: MethodSpec, options: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` split into the builder's and ``attribute``'s keywords.

    Raises:
        ValueError: an option neither takes; the message lists the valid ones.
    """
    init_names = keywords(spec.builder.__init__)
    attr_names = keywords(spec.builder.attribute)
    unknown = sorted(set(options) - init_names - attr_names)
    if unknown:
        valid = init_names | attr_names | {"method", "layer", "noise_tunnel"}
        valid |= {"baselines"} if spec.baselines != "none" else set()
        valid |= {"neuron_selector"} if spec.needs_neuron else set()
        raise ValueError(f"{where} got unknown options {unknown}. Valid options: {sorted(valid)}.")
    init = {k: v for k, v in options.items() if k in init_names}
    return init, {k: v for k, v in options.items() if k in attr_names}


def check_requirements(spec: MethodSpec, where: str) -> None:
    """Raises ``ModuleNotFoundError`` with the install command when an optional dependency of
    ``spec`` (its surrogate model's library) is missing."""
    missing = [m for m in spec.requires if importlib.util.find_spec(m) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{where} fits its surrogate model with {missing[0]}, which is not installed: "
            f"`pip install {_PIP_NAMES.get(missing[0], missing[0])}`."
        )
