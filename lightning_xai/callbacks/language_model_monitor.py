"""LanguageModelMonitor: which prompt tokens a causal language model's continuations rely on,
after validation epochs, with Captum's LLM attribution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from time import perf_counter
from typing import Any

import pytorch_lightning as pl
import torch
from captum.attr import LLMAttributionResult, TextTokenInput
from torch import nn
from typing_extensions import override

from lightning_xai.callbacks.base import ProbeMonitor, SinksArg
from lightning_xai.figures.tokens import log_prompt_attributions
from lightning_xai.hf_models import find_language_model
from lightning_xai.methods.llm import (
    Prompts,
    check_prompts,
    configure_prompt_methods,
    continuation_log_prob,
    result_on_cpu,
)
from lightning_xai.tags import TAGS, chart_pattern
from lightning_xai.token_text import check_tokenizer
from lightning_xai.validators import named_errors

__all__ = ["LanguageModelMonitor"]

_OWNER = "LanguageModelMonitor"


class LanguageModelMonitor(ProbeMonitor):
    """Attributes the log-probability of fixed continuations to their prompts' tokens.

    For each ``(prompt, continuation)`` and method, after every ``every_n_epochs``-th
    validation epoch (rank zero, never the sanity check), Captum's ``LLMAttribution``
    (perturbation methods) or ``LLMGradientAttribution`` (layer methods on the input
    embedding) explains ``log p(continuation | prompt)``, exactly as a direct call
    ``wrapper.attribute(TextTokenInput(prompt, tokenizer, skip_tokens=...),
    target=continuation, **options)`` does, and logs at ``trainer.global_step`` each prompt's
    tokens coloured by their attribution with a table (``xai/prompts/<method>/prompt_<k>``),
    ``log p(continuation | prompt)`` and each method's seconds (the README's "Tag layout").

    ``latest[method][k]`` holds Captum's ``LLMAttributionResult`` of prompt k (``seq_attr``,
    ``token_attr``) from the last run, on the CPU.

    Args:
        prompts: ``{prompt: continuation}`` or ``[(prompt, continuation), ...]``.
        tokenizer: the model's Hugging Face tokenizer.
        methods: names of :data:`~lightning_xai.methods.llm.LLM_METHODS`, or name -> options
            of the wrapper's ``attribute`` call (``{"LayerIntegratedGradients": {"n_steps":
            16}}``).
        language_model: dotted name of the causal language model in the LightningModule
            (it must return ``.logits``); default the outermost module with
            ``get_input_embeddings`` and ``generate``.
        skip_tokens: token ids (or strings) left out of the attribution; default the
            tokenizer's special tokens (e.g. the BOS token).
        baseline: the token id (or string) that replaces a token in perturbation methods;
            default Captum's (0).
        **kwargs: ``every_n_epochs``, ``on_error``, ``background_writes``, ``sinks``,
            ``name`` of :class:`~lightning_xai.callbacks.base.ProbeMonitor`.

    Example:
        >>> monitor = LanguageModelMonitor({"the film was": " great"}, tokenizer)  # doctest: +SKIP
    """

    def __init__(
        self,
        prompts: Prompts,
        tokenizer: Any,
        methods: Sequence[str] | Mapping[str, Mapping[str, Any] | None] = (
            "FeatureAblation",
            "LayerIntegratedGradients",
        ),
        *,
        language_model: str | None = None,
        skip_tokens: Sequence[int] | Sequence[str] | None = None,
        baseline: int | str = 0,
        every_n_epochs: int = 1,
        on_error: str = "warn",
        background_writes: bool = True,
        sinks: SinksArg = None,
        name: str | None = None,
    ) -> None:
        with named_errors(_OWNER):
            self.prompts = check_prompts(prompts)
        # The probe is the prompts (their positions): chosen here, saved in the checkpoint.
        positions = torch.arange(len(self.prompts)).unsqueeze(1)
        super().__init__(
            num_probes=len(self.prompts), probe=positions, every_n_epochs=every_n_epochs,
            on_error=on_error, background_writes=background_writes, sinks=sinks, name=name,
        )  # fmt: skip
        with named_errors(_OWNER):
            check_tokenizer(tokenizer, None)
            self.methods = configure_prompt_methods(methods)
        self.tokenizer = tokenizer
        self.language_model = language_model
        special = list(getattr(tokenizer, "all_special_ids", []) or [])
        self.skip_tokens = list(skip_tokens) if skip_tokens is not None else special
        self.baseline = baseline
        self.latest: dict[str, list[LLMAttributionResult]] = {}
        self._model: nn.Module | None = None

    def _state_key_fields(self) -> dict[str, Any]:
        return {"prompts": self.prompts, "methods": [m.name for m in self.methods]}

    def _chart_layout(self) -> dict[str, str]:
        return {"log p(continuation | prompt)": chart_pattern("prompt_log_prob")}

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._model = find_language_model(pl_module, self.language_model)
        if not isinstance(self._model.get_input_embeddings(), nn.Module):  # type: ignore[operator]
            raise ValueError("the language model has no input embedding to attribute.")

    @override
    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        if self._model is None:
            raise RuntimeError(f"{_OWNER}: no language model bound (setup did not run).")
        model, tokenizer, writer = self._model, self.tokenizer, self.writer
        inputs = [
            TextTokenInput(prompt, tokenizer, baselines=self.baseline, skip_tokens=self.skip_tokens)
            for prompt, _ in self.prompts
        ]
        log_probs = [continuation_log_prob(model, tokenizer, p, t) for p, t in self.prompts]
        for k, log_prob in enumerate(log_probs):
            writer.add_scalar(TAGS["prompt_log_prob"](k=k), log_prob, step)
        latest: dict[str, list[LLMAttributionResult]] = {}
        for method in self.methods:
            start = perf_counter()
            try:
                results = [
                    method.attribute(model, tokenizer, inp, target)
                    for inp, (_, target) in zip(inputs, self.prompts, strict=True)
                ]
            except Exception as err:
                self._failed(method.tag, err, step)
                continue
            writer.add_scalar(TAGS["time"](method=method.tag), perf_counter() - start, step)
            latest[method.name] = [result_on_cpu(r) for r in results]
        self.latest = latest
        tags = {m.name: m.tag for m in self.methods}
        log, prompts = partial(log_prompt_attributions, writer, step), self.prompts
        writer.submit(lambda: log(self.tokenizer, prompts, latest, tags, log_probs))
