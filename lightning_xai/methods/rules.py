"""What DeepLift's and the guided methods' backward rules miss on a model, said in one warning.

DeepLift (and its Layer, Neuron and Shap forms) rewrites the backward pass of Captum's supported
nonlinear modules (``captum.attr._core.deep_lift.SUPPORTED_NON_LINEAR``); GuidedBackprop,
Deconvolution and GuidedGradCam override the backward pass of ``nn.ReLU`` modules. Anywhere
else (a GELU, SiLU, Hardswish or ReLU6 module; a functional ``F.relu``) the gradient passes
unchanged, so the method silently becomes something else. :func:`rules_warning` turns one
surveyed forward (:class:`~lightning_xai.methods.quirks.ModelSurvey`) into a warning that names
every missed nonlinearity by type with its count, what Captum does there and what to do.
"""

from __future__ import annotations

from collections import Counter

from torch import nn

from lightning_xai.methods.quirks import DEEPLIFT_MODULES, NONLINEAR_OPS, RELU_OPS, ModelSurvey

__all__ = ["rules_warning"]

# Functional forms of the modules DeepLift supports: which module to write instead.
_MODULE_FOR_OP = {
    "relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU", "sigmoid": "Sigmoid",
    "tanh": "Tanh", "softplus": "Softplus", "softmax": "Softmax", "max_pool1d": "MaxPool1d",
    "max_pool2d": "MaxPool2d", "max_pool3d": "MaxPool3d", "max_pool1d_with_indices": "MaxPool1d",
    "max_pool2d_with_indices": "MaxPool2d", "max_pool3d_with_indices": "MaxPool3d",
}  # fmt: skip
_OTHER_METHODS = "IntegratedGradients or GradientShap (no rule needed)"


def rules_warning(where: str, method: str, rules: str, survey: ModelSurvey) -> str | None:
    """The warning for ``method`` (``rules`` ``"deeplift"`` or ``"guided"``) on the surveyed
    model, one line per missed nonlinearity type; ``None`` when its rule reaches them all."""
    if rules == "guided":
        return _guided(where, method, survey)
    lines = _missed(survey, DEEPLIFT_MODULES, NONLINEAR_OPS, deeplift=True)
    if not lines:
        return None
    supported = ", ".join(f"nn.{kind.__name__}" for kind in DEEPLIFT_MODULES)
    return (
        f"{where}: Captum's {method} rewrites the backward pass of {supported} modules only; at "
        "the nonlinearities below it passes the plain gradient, so the attributions are not "
        f"{method}'s (they no longer add up to the output difference; see the `completeness` "
        "metric):\n" + "\n".join(f"  - {line}" for line in lines)
    )


def _guided(where: str, method: str, survey: ModelSurvey) -> str | None:
    relu_calls = sum(
        n for name, n in survey.calls.items() if isinstance(survey.modules.get(name), nn.ReLU)
    )
    functional = _missed(survey, (nn.ReLU,), RELU_OPS, deeplift=False)
    if relu_calls == 0:
        seen = _missed(survey, (nn.ReLU,), NONLINEAR_OPS, deeplift=False, advice=False)
        uses = f" (its nonlinearities: {'; '.join(seen)})" if seen else ""
        return (
            f"{where}: the model's forward calls no nn.ReLU module{uses}; {method} overrides "
            "the backward pass of nn.ReLU modules only, so here it equals the plain gradient "
            "(Saliency with abs=False). Use Saliency or IntegratedGradients instead, or give the "
            "model nn.ReLU modules."
        )
    if not functional:
        return None
    return (
        f"{where}: {method} overrides the backward pass of nn.ReLU modules only; at these "
        "calls its rule is the plain gradient:\n" + "\n".join(f"  - {line}" for line in functional)
    )


def _missed(
    survey: ModelSurvey,
    kinds: tuple[type, ...],
    ops: frozenset[str],
    deeplift: bool,
    advice: bool = True,
) -> list[str]:
    """One line per type of nonlinearity the rule (of modules ``kinds``) does not reach:
    activation modules of another type, and functional ``ops`` called in a module's forward."""
    modules: Counter[str] = Counter()
    module_names: dict[str, set[str]] = {}
    functional: Counter[str] = Counter()
    callers: dict[str, dict[str, None]] = {}
    for (op, name), count in survey.functional.items():
        module = survey.modules.get(name)
        pooling = type(module).__module__ == "torch.nn.modules.pooling"
        if op not in ops or isinstance(module, kinds) or pooling:
            continue
        kind = type(module).__name__
        if type(module).__module__ == "torch.nn.modules.activation":
            modules[kind] += count
            module_names.setdefault(kind, set()).add(name)
        else:
            functional[op] += count
            callers.setdefault(op, {})[f"{kind}.forward"] = None
    lines = []
    for kind, count in modules.items():
        line = f"{kind} modules ({_calls(count)} in {len(module_names[kind])} modules)"
        if advice and deeplift:
            line += f": no rule for {kind}; use {_OTHER_METHODS}, or a supported module"
        lines.append(line)
    for op, count in functional.items():
        line = f"{op} called in {', '.join(callers[op])} ({_calls(count)})"
        if advice:
            if op in _MODULE_FOR_OP:
                line += f": write one nn.{_MODULE_FOR_OP[op]}() module per call instead"
            else:
                line += f": no rule for {op}; use {_OTHER_METHODS}"
        lines.append(line)
    return lines


def _calls(count: int) -> str:
    return f"{count} call" if count == 1 else f"{count} calls"
