"""Token attributions of text models: the pictures and tables the AttributionMonitor logs for
token-id inputs ``[N, L]`` (kept apart from its image and chart logging), and the
LanguageModelMonitor's prompt strips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from captum.attr import LLMAttributionResult
from torch import Tensor

from lightning_xai.render.colorbar import colorbars, negligible
from lightning_xai.render.tokens import token_strip, token_table
from lightning_xai.sinks import Sink
from lightning_xai.tags import TAGS
from lightning_xai.token_text import TokenText

__all__ = [
    "log_prompt_attributions",
    "log_token_attributions",
    "log_token_values",
    "token_scores",
]


def token_scores(attribution: Tensor, ids: Tensor) -> Tensor | None:
    """One score per token: ``[N, L, ...]`` summed over the trailing dimensions (e.g. the
    embedding dimension of a LayerIntegratedGradients attribution on an ``nn.Embedding``).

    Args:
        attribution: ``[N, L, ...]``.
        ids: token ids ``[N, L]``.

    Returns:
        ``[N, L]``, or ``None`` when the attribution does not start with ``[N, L]``.
    """
    if attribution.shape[:2] != ids.shape:
        return None
    return attribution.reshape(*ids.shape, -1).sum(dim=-1)


def log_token_attributions(
    sink: Sink,
    step: int,
    ids: Tensor,
    results: Mapping[str, Tensor],
    tags: Mapping[str, str],
    titles: Sequence[str],
    text: TokenText | None = None,
    mask: Tensor | None = None,
    outputs: Tensor | None = None,
) -> list[str]:
    """Writes, per method and probe sample, the coloured token strip and a Markdown table:

    ==========================================  ==============================================
    tag                                         content
    ==========================================  ==============================================
    ``xai/tokens/<method>/sample_<k>``          image: the sentence, each token on a colour for
                                                its attribution (green +, red -), scaled by the
                                                sample's largest |attribution| (in the title);
                                                special tokens underlined in grey; a colour
                                                bar (``~0``: too weak to draw)
    ``xai/tokens/<method>/sample_<k>``          text: a table token | attribution | relative
                                                (TensorBoard stores it as
                                                ``.../sample_<k>/text_summary``)
    ``xai/attributions/<method>/values``        histogram, for attributions not ``[N, L, ...]``
    ==========================================  ==============================================

    Padding (``mask`` 0, else ``text.pad_id``) is left out; with ``text.merge_words`` word
    pieces are merged into words. Returns the keys whose attributions were not per token.

    Args:
        sink: where to write.
        step: the global step.
        ids: token ids ``[N, L]`` (CPU).
        results: method key -> attribution ``[N, L, ...]`` (CPU).
        tags: method key -> snake_case tag.
        titles: one title per sample.
        text: how ids read (tokenizer or vocabulary, padding); default: the ids.
        mask: attention mask ``[N, L]`` (1 for tokens, 0 for padding), or ``None``.
        outputs: the model's outputs ``[N, ...]``, to tell negligible attributions (see
            :func:`~lightning_xai.render.colorbar.negligible`), or ``None``.
    """
    text = text or TokenText()
    skipped = []
    for key, attribution in results.items():
        scores = token_scores(attribution, ids)
        if scores is None:
            sink.add_histogram(TAGS["attribution_values"](method=tags[key]), attribution, step)
            skipped.append(key)
            continue
        for k in range(ids.shape[0]):
            if mask is not None and mask.shape == ids.shape:
                keep = mask[k] != 0
            elif text.pad_id is not None:
                keep = ids[k] != text.pad_id
            else:
                keep = torch.ones_like(ids[k], dtype=torch.bool)
            tokens, values, special = text.words(ids[k][keep], scores[k][keep])
            tag = TAGS["tokens"](method=tags[key], k=k)
            row = None if outputs is None else outputs[k : k + 1]
            log_token_values(sink, tag, step, tokens, values, special, titles[k], row)
    return skipped


def log_token_values(
    sink: Sink,
    tag: str,
    step: int,
    tokens: Sequence[str],
    values: Tensor,
    special: Sequence[bool],
    title: str,
    outputs: Tensor | None = None,
) -> None:
    """One sequence's strip (image, above its colour bar) and table (text) under ``tag``:
    ``tokens`` with their ``values [L]``, ``special`` tokens marked, the largest |value| in the
    title; ``outputs`` ``[1, K]``: the model's, to mark a negligible sequence ``~0``."""
    if values.numel() == 0:
        return
    peak = values.abs().max().reshape(1)
    marked = None if outputs is None else negligible(values[None], outputs)
    shown = peak if marked is None else torch.where(marked, float("inf"), peak)
    heading = f"{title}  |max| {float(peak):.2e}"
    strip = token_strip(tokens, values / shown.clamp(min=1e-30), title=heading, marked=special)
    sink.add_image(tag, _with_bar(strip, peak, marked), step)
    sink.add_text(tag, f"**{heading}**\n\n{token_table(tokens, values, special)}", step)


def _with_bar(strip: Tensor, peak: Tensor, marked: Tensor | None) -> Tensor:
    """``strip`` ``[3, H, W]`` above its colour bar from ``-peak`` to ``peak`` ``[1]`` (at
    least 112 pixels wide)."""
    width = max(strip.shape[2], 112)
    bar = colorbars("diverging", -peak, peak, width, marked=marked, peaks=peak)[0]
    strip = torch.cat([strip, torch.ones(3, strip.shape[1], width - strip.shape[2])], dim=2)
    return torch.cat([strip, bar], dim=1)


def log_prompt_attributions(
    sink: Sink,
    step: int,
    tokenizer: Any,
    prompts: Sequence[tuple[str, str]],
    results: Mapping[str, Sequence[LLMAttributionResult]],
    tags: Mapping[str, str],
    log_probs: Sequence[float],
) -> None:
    """The strips and tables ``xai/prompts/<method>/prompt_<k>`` of one LanguageModelMonitor
    run: each prompt's tokens coloured by ``results[method][k].seq_attr [T]``, titled
    ``prompt -> continuation`` with its ``log p``; special tokens marked."""
    text = TokenText(tokenizer)
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for name, found in results.items():
        for k, (result, (prompt, target)) in enumerate(zip(found, prompts, strict=True)):
            tokens = [text.pretty(t) for t in result.input_tokens]
            marked = [t in special for t in result.input_tokens]
            title = f"{prompt!r} -> {target!r}  log p {log_probs[k]:.3f}"
            tag = TAGS["prompt_tokens"](method=tags[name], k=k)
            log_token_values(sink, tag, step, tokens, result.seq_attr, marked, title)
