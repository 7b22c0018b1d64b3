"""Checks of a configured method against the probe and the model, before the first step.

They run once the probe exists (``on_train_start`` at the latest, before the first training
step), after one surveyed forward pass of the probe
(:class:`~lightning_xai.methods.quirks.ModelSurvey`). Errors are configuration errors and
always raise; silent failures (a functional ``F.relu`` under DeepLift) are returned as notes,
which the monitor shows once, under its name.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor

from lightning_xai.inputs import ModelInputs
from lightning_xai.methods.baselines import BaselineStrategy
from lightning_xai.methods.quirks import ModelSurvey
from lightning_xai.methods.registry import MethodSpec
from lightning_xai.methods.rules import rules_warning

__all__ = ["CheckedMethod", "check_method", "check_neuron_selector", "default_layer"]


class CheckedMethod(Protocol):
    """What the checks read of a :class:`~lightning_xai.methods.ConfiguredMethod` (a protocol,
    so that this module does not import the one that calls it)."""

    @property
    def spec(self) -> MethodSpec: ...
    @property
    def where(self) -> str: ...
    @property
    def baselines(self) -> BaselineStrategy | None: ...
    @property
    def layer_path(self) -> str | None: ...
    @property
    def neuron_selector(self) -> Any: ...
    @property
    def layer_name(self) -> str | None: ...
    @property
    def attribute_kwargs(self) -> dict[str, Any]: ...


def check_method(
    method: CheckedMethod, inputs: Tensor | ModelInputs, survey: ModelSurvey
) -> tuple[dict[str, int], list[str]]:
    """Validates ``method`` for ``inputs [N, ...]`` (or each of a multi-input model's); returns
    the modules to give per-call copies (DeepLift family on a model that calls an activation
    module more than once) and notes on silent failures for the user.

    Raises:
        ValueError: the method cannot work on these inputs or this model; the message names
            the argument or module and the fix.
    """
    spec, where = method.spec, method.where
    batch = inputs if isinstance(inputs, ModelInputs) else ModelInputs.of(inputs)
    inputs = batch.first
    if spec.needs_spatial and all(t.ndim < 3 for t in batch.tensors):
        raise ValueError(
            f"{where} needs inputs with spatial dimensions [N, C, H, W]; the probe is "
            f"{tuple(inputs.shape)}. Pick a method that is not Grad-CAM based."
        )
    if spec.needs_batch and inputs.shape[0] < 2:
        raise ValueError(
            f"{where} compares the probe samples with each other and needs `num_probes` >= 2, "
            f"got {inputs.shape[0]}."
        )
    if method.baselines is not None:
        for tensor in batch.tensors:
            method.baselines.check(tensor)
    notes: list[str] = []
    if method.layer_path is not None:
        notes += _check_layer(method, survey)
    window = method.attribute_kwargs.get("sliding_window_shapes")
    if window is not None and not batch.multi:
        _check_window(window, tuple(inputs.shape[1:]), where)
    reused = _deeplift_reuse(method, survey) if spec.model_rules == "deeplift" else {}
    if spec.model_rules is not None:
        message = rules_warning(where, spec.name, spec.model_rules, survey)
        notes += [] if message is None else [message]
    return reused, notes


def default_layer(method: CheckedMethod, survey: ModelSurvey) -> str | None:
    """The layer of a layer method given no ``layer``: the last ``Conv2d`` the forward calls
    whose output is larger than 1x1 (a 1x1 map is one value per sample, a uniform tint), else
    the last one called; said once. ``None`` when the method takes no default layer or the
    forward calls no ``Conv2d``."""
    if not method.spec.needs_layer or method.layer_name is not None:
        return None
    larger, last = survey.spatial_layer()
    path = larger or last
    if path is not None:
        height, width = survey.output_shapes[path][2:]
        rank_zero_info(
            f"{method.where}: no `layer` given; using {path!r} ({height}x{width} on the probe), "
            "the last Conv2d in the forward whose output is larger than 1x1."
            if larger
            else f"{method.where}: no `layer` given; using {path!r}, the forward's last Conv2d."
        )
    return path


def check_neuron_selector(selector: Any, shape: tuple[int, ...], path: str, where: str) -> None:
    """Validates a ``neuron_selector`` against the layer's output ``shape`` (batch included).

    Raises:
        ValueError: wrong number of indices, an index out of range, or a callable that does not
            return one value per sample.
    """
    per_sample = shape[1:]
    if callable(selector):
        try:
            picked = selector(torch.zeros(shape))
        except Exception as err:
            raise ValueError(
                f"{where}: the `neuron_selector` callable failed on the output of `layer` "
                f"{path!r} (shape {shape}): {type(err).__name__}: {err}"
            ) from None
        if not isinstance(picked, Tensor) or tuple(picked.shape) != shape[:1]:
            got = tuple(picked.shape) if isinstance(picked, Tensor) else type(picked).__name__
            raise ValueError(
                f"{where}: the `neuron_selector` callable must return one value per sample "
                f"({shape[0]},) from the output of `layer` {path!r}, got {got}."
            )
        return
    index = (selector,) if isinstance(selector, int) else tuple(selector)
    if len(index) != len(per_sample):
        example = tuple(0 for _ in per_sample)
        raise ValueError(
            f"{where}: `neuron_selector` {selector!r} must give {len(per_sample)} index(es), one "
            f"per dimension of the output of `layer` {path!r} {per_sample} (batch excluded), "
            f"e.g. {example if len(example) > 1 else 0}."
        )
    for i, size in zip(index, per_sample, strict=True):
        if isinstance(i, int) and not -size <= i < size:
            raise ValueError(
                f"{where}: `neuron_selector` {selector!r} is out of range for the output of "
                f"`layer` {path!r} {per_sample} (batch excluded)."
            )


def _check_layer(method: CheckedMethod, survey: ModelSurvey) -> list[str]:
    path, where, notes = method.layer_path or "", method.where, []
    calls = survey.calls.get(path, 0)
    if calls == 0:
        raise ValueError(
            f"{where}: `layer` {path!r} is not called in the model's forward; pick a layer the "
            "forward uses."
        )
    if calls > 1:
        notes.append(
            f"{where}: `layer` {path!r} is called {calls} times per forward; Captum sees only "
            "one of the calls (the last). Give each call its own module to choose."
        )
    shape = survey.output_shapes.get(path)
    if shape is None:
        return notes
    if method.spec.needs_spatial and method.spec.output == "layer" and len(shape) < 3:
        raise ValueError(
            f"{where}: `layer` {path!r} outputs shape {shape}, without spatial dimensions; "
            "pick a conv layer."
        )
    if method.neuron_selector is None and len(shape) == 4 and shape[2] * shape[3] == 1:
        larger, _ = survey.spatial_layer()
        better = ""
        if larger is not None:
            better = f", e.g. {larger!r} ({'x'.join(map(str, survey.output_shapes[larger][2:]))})"
        notes.append(
            f"{where}: `layer` {path!r} outputs {shape[2]}x{shape[3]} maps on the probe "
            f"{tuple(shape)}: one value per sample, drawn as a uniform tint. Pick a layer with a "
            f"larger output{better}, or feed larger inputs."
        )
    if method.neuron_selector is not None:
        check_neuron_selector(method.neuron_selector, shape, path, where)
    return notes


def _check_window(window: Any, dims: tuple[int, ...], where: str) -> None:
    ok = isinstance(window, tuple) and len(window) == len(dims)
    if not ok or not all(
        isinstance(w, int) and 1 <= w <= d for w, d in zip(window, dims, strict=True)
    ):
        raise ValueError(
            f"{where}: `sliding_window_shapes` must be a tuple of {len(dims)} ints, each from 1 "
            f"to the input's size {dims} (batch excluded), got {window!r}."
        )


def _deeplift_reuse(method: CheckedMethod, survey: ModelSurvey) -> dict[str, int]:
    where = method.where
    reused = survey.deeplift_reused()
    if method.layer_path in reused:
        raise ValueError(
            f"{where}: `layer` {method.layer_path!r} is an activation called "
            f"{reused[method.layer_path]} times per forward; DeepLift needs one module per call. "
            "Pick another layer, or give each call its own module."
        )
    for name, calls in reused.items():
        module = survey.modules[name]
        if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
            raise ValueError(
                f"{where}: module {name!r} ({type(module).__name__}) is called {calls} times per "
                "forward and holds parameters or buffers; DeepLift needs one module per call: "
                "give each call its own module."
            )
    return reused
