"""Model quirks that break attribution methods, found by watching one forward pass of the probe.

What one forward tells (exactly, not by guessing from the module tree):

- how often each module is called (a module called twice per forward breaks DeepLift, and
  layer methods on it see only its last call);
- the output shape of each module (to validate neuron selectors);
- nonlinear torch functions (``F.relu``, ``torch.sigmoid``, ``x.relu()``, ``F.gelu``...) called
  outside a module that DeepLift or GuidedBackprop know how to rewrite. Those methods only
  change the backward pass of ``nn.ReLU`` (GuidedBackprop) or Captum's supported nonlinear
  modules (DeepLift), so anywhere else their rule silently becomes the plain gradient.

Limits: calls are recorded through ``torch.overrides.TorchFunctionMode``, which sees calls from
Python. Ops inside TorchScript or compiled code, custom autograd functions and C++ extensions
are not seen; a forward whose control flow depends on the data may call other functions on
other inputs than the probe.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from lightning_xai.guard import attribution_guard
from lightning_xai.inputs import ModelInputs

__all__ = ["DEEPLIFT_MODULES", "NONLINEAR_OPS", "RELU_OPS", "ModelSurvey", "per_call_copies"]

DEEPLIFT_MODULES = tuple(SUPPORTED_NON_LINEAR)
GUIDED_MODULES = (nn.ReLU,)
RELU_OPS = frozenset({"relu", "relu_"})
NONLINEAR_OPS = RELU_OPS | frozenset(
    {
        "elu", "elu_", "leaky_relu", "leaky_relu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
        "softplus", "softmax", "log_softmax", "gelu", "silu", "silu_", "mish", "hardswish",
        "hardsigmoid", "hardtanh", "hardtanh_", "relu6", "selu", "celu", "prelu", "glu",
        "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
        "max_pool2d_with_indices", "max_pool3d_with_indices", "logsigmoid", "softsign",
    }
)  # fmt: skip


@dataclass
class ModelSurvey:
    """What one forward pass of the probe showed about a model.

    Attributes:
        calls: module name -> calls in one forward (a shared module under its first name).
        output_shapes: module name -> shape of its (first tensor) output, batch dim included.
        functional: ``(op, module)`` -> count, for nonlinear torch functions called directly in
            ``module``'s forward (``""`` is the root), i.e. not as the body of an
            activation module.
        modules: module name -> module.
    """

    calls: Counter[str] = field(default_factory=Counter)
    output_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    functional: Counter[tuple[str, str]] = field(default_factory=Counter)
    modules: dict[str, nn.Module] = field(default_factory=dict)
    _enclosing: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @classmethod
    def run(cls, model: nn.Module, inputs: Tensor | ModelInputs) -> ModelSurvey:
        """One forward of ``inputs`` (a tensor, or :class:`~lightning_xai.inputs.ModelInputs`)
        through ``model`` under the attribution guard (eval mode, no grad, everything
        restored), watching modules and torch functions."""
        batch = inputs if isinstance(inputs, ModelInputs) else ModelInputs.of(inputs)
        survey = cls(modules=dict(model.named_modules()))
        names = {id(m): n for n, m in reversed(list(model.named_modules()))}
        stack: list[nn.Module] = []
        handles = []

        def enter(module: nn.Module, _args: Any) -> None:
            stack.append(module)
            survey.calls[names[id(module)]] += 1

        def leave(module: nn.Module, _args: Any, output: Any) -> None:
            stack.pop()
            name = names[id(module)]
            first = output[0] if isinstance(output, tuple | list) and output else output
            if isinstance(first, Tensor) and name not in survey.output_shapes:
                survey.output_shapes[name] = tuple(first.shape)

        class _Record(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                op = getattr(func, "__name__", "").strip("_")
                if op in NONLINEAR_OPS or f"{op}_" in NONLINEAR_OPS:
                    inner = stack[-1] if stack else model
                    kind = type(inner).__name__
                    survey._enclosing[(op, names.get(id(inner), ""), kind)] += 1
                return func(*args, **(kwargs or {}))

        for module in dict.fromkeys(model.modules()):
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave))
        try:
            with attribution_guard(model, grad=False), _Record():
                batch(model)
        finally:
            for handle in handles:
                handle.remove()
        for (op, name, _kind), count in survey._enclosing.items():
            survey.functional[(op, name)] += count
        return survey

    def reused(self, kinds: tuple[type, ...] | None = None) -> dict[str, int]:
        """Modules called more than once per forward (of ``kinds``, if given)."""
        return {
            name: count
            for name, count in self.calls.items()
            if count > 1 and (kinds is None or isinstance(self.modules[name], kinds))
        }

    def unrewritten(self, rules: str) -> dict[str, int]:
        """Nonlinear functions the method's rewrite does not reach: ``"op in <module>"`` ->
        calls, for ``rules`` ``"deeplift"`` or ``"guided"``."""
        kinds = DEEPLIFT_MODULES if rules == "deeplift" else GUIDED_MODULES
        ops = NONLINEAR_OPS if rules == "deeplift" else RELU_OPS
        found: dict[str, int] = {}
        for (op, name), count in self.functional.items():
            module = self.modules.get(name)
            if op in ops and not isinstance(module, kinds):
                where = f"{type(module).__name__} {name!r}" if name else "the model's forward"
                found[f"{op} in {where}"] = count
        return found

    def spatial_layer(self) -> tuple[str | None, str | None]:
        """``(larger, last)``: the last ``Conv2d`` called in the forward whose output is larger
        than 1x1, and the last one called at all (``None`` where there is none)."""
        convs = [
            (name, shape)
            for name, shape in self.output_shapes.items()  # in the order the calls ended
            if isinstance(self.modules.get(name), nn.Conv2d) and len(shape) == 4
        ]
        larger = [name for name, shape in convs if shape[2] * shape[3] > 1]
        return (larger[-1] if larger else None), (convs[-1][0] if convs else None)

    def deeplift_reused(self) -> dict[str, int]:
        """DeepLift-rewritten modules (``nn.ReLU``, ``nn.MaxPool2d``...) called more than once."""
        return self.reused(DEEPLIFT_MODULES)


class _PerCall(nn.Module):
    """Stands in for a module called k times per forward: call i goes to copy i."""

    def __init__(self, module: nn.Module, calls: int) -> None:
        super().__init__()
        self.copies = nn.ModuleList(copy.deepcopy(module) for _ in range(calls))
        self.index = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        module = self.copies[self.index % len(self.copies)]
        self.index += 1
        return module(*args, **kwargs)


@contextmanager
def per_call_copies(model: nn.Module, reused: dict[str, int]) -> Iterator[nn.Module]:
    """Temporarily gives each call of a reused parameter-free module its own copy.

    Every slot holding a reused module (``reused``: name -> calls per forward) is replaced by
    a stand-in that sends its i-th call of a forward to the i-th copy, so that DeepLift's
    hooks see each call on its own module. A pre-hook on ``model`` restarts the count at each
    forward. Everything is put back on exit, even on error.

    Raises:
        ValueError: a reused module holds parameters or buffers (copies would not share
            them): the message names it.
    """
    swaps: list[tuple[nn.Module, str, nn.Module]] = []
    stand_ins: dict[int, _PerCall] = {}
    modules = dict(model.named_modules())
    for name, calls in reused.items():
        original = modules[name]
        if any(True for _ in original.parameters()) or any(True for _ in original.buffers()):
            raise ValueError(
                f"module {name!r} ({type(original).__name__}) is called {calls} times per "
                "forward and holds parameters; give each call its own module."
            )
        stand_ins[id(original)] = _PerCall(original, calls)
    for parent in model.modules():
        for child_name, child in parent._modules.items():
            if id(child) in stand_ins:
                swaps.append((parent, child_name, child))  # type: ignore[arg-type]
    for parent, child_name, original in swaps:
        parent._modules[child_name] = stand_ins[id(original)]

    def restart(_module: nn.Module, _args: Any) -> None:
        for stand_in in stand_ins.values():
            stand_in.index = 0

    handle = model.register_forward_pre_hook(restart)
    try:
        yield model
    finally:
        handle.remove()
        for parent, child_name, original in swaps:
            parent._modules[child_name] = original
