"""Prompt attributions of causal language models with Captum's LLM wrappers: which prompt
tokens the log-probability of a target continuation relies on.

Example:
    >>> PromptAttribution("FeatureAblation").family
    'perturbation'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from captum.attr import (
    FeatureAblation,
    KernelShap,
    LayerGradientShap,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Lime,
    LLMAttribution,
    LLMAttributionResult,
    LLMGradientAttribution,
    ShapleyValues,
    ShapleyValueSampling,
    TextTokenInput,
)
from torch import Tensor, nn

from lightning_xai.methods.registry import snake_case

__all__ = [
    "LLM_METHODS",
    "PromptAttribution",
    "Prompts",
    "as_tensor",
    "check_prompts",
    "configure_prompt_methods",
    "continuation_log_prob",
    "result_on_cpu",
]

LLM_METHODS: dict[str, type] = {
    "FeatureAblation": FeatureAblation,
    "ShapleyValueSampling": ShapleyValueSampling,
    "ShapleyValues": ShapleyValues,
    "Lime": Lime,
    "KernelShap": KernelShap,
    "LayerIntegratedGradients": LayerIntegratedGradients,
    "LayerGradientXActivation": LayerGradientXActivation,
    "LayerGradientShap": LayerGradientShap,
}
"""Captum algorithms its LLM wrappers take: perturbation ones (``LLMAttribution``) and layer
gradient ones on the input embedding (``LLMGradientAttribution``)."""
Prompts = Mapping[str, str] | Sequence[tuple[str, str]]
"""``prompt -> target continuation``, or ``(prompt, continuation)`` pairs."""
_GRADIENT = {"LayerIntegratedGradients", "LayerGradientXActivation", "LayerGradientShap"}


@dataclass(frozen=True)
class PromptAttribution:
    """One method of a :class:`~lightning_xai.callbacks.LanguageModelMonitor`.

    Args:
        name: a key of :data:`LLM_METHODS` (or its snake_case).
        options: keywords of the wrapper's ``attribute`` call (e.g. ``n_steps``,
            ``forward_in_tokens``).
    """

    name: str
    options: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        known = {snake_case(n): n for n in LLM_METHODS}
        name = known.get(self.name, self.name)
        if name not in LLM_METHODS:
            raise ValueError(
                f"`methods` entry {self.name!r} is not one of Captum's LLM "
                f"attribution methods {list(LLM_METHODS)}."
            )
        if self.options is not None and not isinstance(self.options, Mapping):
            raise TypeError(
                f"options of method {self.name!r} must be a mapping of keyword "
                f"arguments, got {type(self.options).__name__}."
            )
        object.__setattr__(self, "name", name)

    @property
    def tag(self) -> str:
        """The method's part of the tags (snake_case)."""
        return snake_case(self.name)

    @property
    def family(self) -> str:
        """``"gradient"`` (layer methods on the embedding) or ``"perturbation"``."""
        return "gradient" if self.name in _GRADIENT else "perturbation"

    def wrapper(self, model: nn.Module, tokenizer: Any) -> LLMAttribution | LLMGradientAttribution:
        """Captum's LLM wrapper around the algorithm built on ``model`` (its input embedding
        for gradient methods), as Captum's tutorial builds it."""
        algorithm = LLM_METHODS[self.name]
        if self.family == "gradient":
            embedding = model.get_input_embeddings()  # type: ignore[operator]
            return LLMGradientAttribution(algorithm(model, embedding), tokenizer)
        return LLMAttribution(algorithm(model), tokenizer)

    def attribute(
        self, model: nn.Module, tokenizer: Any, prompt: TextTokenInput, target: str
    ) -> LLMAttributionResult:
        """The attribution of ``target``'s log-probability after ``prompt`` to the prompt's
        tokens: ``seq_attr [T_prompt]`` and, where the method gives it, ``token_attr
        [T_target, T_prompt]``."""
        return self.wrapper(model, tokenizer).attribute(
            prompt, target=target, **dict(self.options or {})
        )


def continuation_log_prob(model: nn.Module, tokenizer: Any, prompt: str, target: str) -> float:
    """``log p(target | prompt)``: the sum over the target's tokens, from one forward of the
    prompt (encoded as Captum encodes it) followed by the target (without special tokens)."""
    device = next(model.parameters()).device
    prompt_ids = tokenizer.encode(prompt, return_tensors="pt").to(device)
    target_ids = torch.tensor(tokenizer.encode(target, add_special_tokens=False), device=device)
    ids = torch.cat([prompt_ids, target_ids[None]], dim=1)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, prompt_ids.shape[1] - 1 : -1]
    return float(F.log_softmax(logits.float(), dim=-1).gather(1, target_ids[:, None]).sum())


def as_tensor(values: Any) -> Tensor:
    """A CPU float tensor of Captum's result arrays."""
    return torch.as_tensor(values).detach().float().cpu()


def result_on_cpu(result: LLMAttributionResult) -> LLMAttributionResult:
    """``result`` with its arrays as CPU float tensors (safe to draw on another thread)."""
    token_attr = None if result.token_attr is None else as_tensor(result.token_attr)
    return LLMAttributionResult(
        seq_attr=as_tensor(result.seq_attr),
        token_attr=token_attr,
        input_tokens=list(result.input_tokens),
        output_tokens=list(result.output_tokens),
    )


def check_prompts(prompts: Any) -> list[tuple[str, str]]:
    """``prompts`` (:data:`Prompts`) as a list of non-empty ``(prompt, continuation)`` pairs."""
    pairs = list(prompts.items()) if isinstance(prompts, Mapping) else prompts
    if (
        isinstance(pairs, str)
        or not isinstance(pairs, Sequence)
        or not all(
            isinstance(p, tuple | list) and len(p) == 2 and all(isinstance(s, str) for s in p)
            for p in pairs
        )
    ):
        raise TypeError(
            "`prompts` must be a mapping prompt -> continuation or a list of (prompt, "
            f"continuation) string pairs, got {prompts!r}."
        )
    if not pairs or any(not p or not c for p, c in pairs):
        raise ValueError(
            f"`prompts` must hold at least one pair of non-empty strings, got {prompts!r}."
        )
    return [(p, c) for p, c in pairs]


def configure_prompt_methods(
    methods: Sequence[str] | Mapping[str, Mapping[str, Any] | None],
) -> list[PromptAttribution]:
    """The methods of a LanguageModelMonitor: names, or a mapping name -> options."""
    if isinstance(methods, str) or not isinstance(methods, Sequence | Mapping):
        raise TypeError(
            f"`methods` must be a list of names or a mapping name -> options, got {methods!r}."
        )
    pairs = methods.items() if isinstance(methods, Mapping) else [(m, None) for m in methods]
    if not pairs:
        raise ValueError("`methods` is empty; name at least one.")
    return [PromptAttribution(name, options) for name, options in pairs]
