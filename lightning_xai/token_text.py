"""Token ids as text: strings from a Hugging Face tokenizer or a vocabulary, special tokens,
word pieces merged into words, and the text baseline of Captum's BERT tutorial.

Example:
    >>> text = TokenText(vocabulary=["[PAD]", "[CLS]", "good", "##s"], pad_id=0)
    >>> text.labels(torch.tensor([1, 2, 3]))
    ['[CLS]', 'good', '##s']
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lightning_xai.render.tokens import Vocabulary, check_vocabulary, token_labels

__all__ = ["TokenText", "check_tokenizer"]


def check_tokenizer(tokenizer: Any, vocabulary: Any) -> None:
    """Raises ``TypeError``/``ValueError`` naming ``tokenizer`` when it is not a Hugging Face
    tokenizer (``convert_ids_to_tokens``) or comes with a ``vocabulary``."""
    if tokenizer is None:
        return
    if not callable(getattr(tokenizer, "convert_ids_to_tokens", None)):
        raise TypeError(
            f"`tokenizer` must be a Hugging Face tokenizer (with "
            f"`convert_ids_to_tokens`), got {type(tokenizer).__name__}."
        )
    if vocabulary is not None:
        raise ValueError("pass `tokenizer` or `vocabulary`, not both.")


class TokenText:
    """How token ids read: a tokenizer (or a vocabulary), its padding and special tokens.

    Args:
        tokenizer: a Hugging Face tokenizer: tokens decoded, special tokens (``[CLS]``,
            ``[SEP]``...) marked, word pieces recognised.
        vocabulary: token strings by id, when there is no tokenizer (no special tokens).
        pad_id: the padding id; default the tokenizer's.
        merge_words: merge word pieces into words (their attributions summed).
    """

    def __init__(
        self,
        tokenizer: Any = None,
        vocabulary: Vocabulary | None = None,
        pad_id: int | None = None,
        merge_words: bool = False,
    ) -> None:
        check_tokenizer(tokenizer, vocabulary)
        check_vocabulary(vocabulary, pad_id)
        if not isinstance(merge_words, bool):
            raise TypeError(f"`merge_words` must be a bool, got {merge_words!r}.")
        self.tokenizer = tokenizer
        self.vocabulary = vocabulary
        self.merge_words = merge_words
        tokenizer_pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id: int | None = pad_id if pad_id is not None else tokenizer_pad
        special = getattr(tokenizer, "all_special_ids", None) or []
        self.special_ids = frozenset(int(i) for i in special)

    # -- reading ids ---------------------------------------------------------------------------
    def labels(self, ids: Tensor) -> list[str]:
        """The token strings of ids ``[L]``, as the tokenizer writes them (``##s``, ``Ġfilm``
        shown as ``film``), or from the vocabulary."""
        if self.tokenizer is None:
            return token_labels(ids, self.vocabulary)
        tokens = self.tokenizer.convert_ids_to_tokens(ids.reshape(-1).tolist())
        return [self.pretty(t) for t in tokens]

    def special(self, ids: Tensor) -> list[bool]:
        """Whether each id ``[L]`` is a special token other than padding."""
        return [i in self.special_ids and i != self.pad_id for i in ids.reshape(-1).tolist()]

    def words(self, ids: Tensor, values: Tensor) -> tuple[list[str], Tensor, list[bool]]:
        """Labels, values ``[W]`` and special flags of the tokens ``ids [L]`` with their
        ``values [L]``; with ``merge_words``, word pieces are merged into words and their
        values summed (special tokens stay alone)."""
        labels, special = self.labels(ids), self.special(ids)
        if not self.merge_words or self.tokenizer is None or ids.numel() < 2:
            return labels, values, special
        tokens = self.tokenizer.convert_ids_to_tokens(ids.reshape(-1).tolist())
        group = [0]
        for k in range(1, len(tokens)):
            new = special[k] or special[k - 1] or not self._continues(tokens[k - 1], tokens[k])
            group.append(group[-1] + 1 if new else group[-1])
        index = torch.tensor(group)
        summed = torch.zeros(group[-1] + 1, dtype=values.dtype).index_add_(0, index, values)
        merged, flags = [], []
        for g in range(group[-1] + 1):
            members = [tokens[k] for k in range(len(tokens)) if group[k] == g]
            first = group.index(g)
            word = self.tokenizer.convert_tokens_to_string(members).strip()
            merged.append(labels[first] if special[first] or not word else word)
            flags.append(special[first])
        return merged, summed, flags

    def baseline(self, ids: Tensor) -> Tensor:
        """Captum's text baseline for ids ``[N, L]``: the pad id everywhere, special tokens
        (``[CLS]``, ``[SEP]``) kept; ids as they are when no pad id is known."""
        if self.pad_id is None:
            return ids.clone()
        keep = torch.zeros_like(ids, dtype=torch.bool)
        for special in self.special_ids - {self.pad_id}:
            keep |= ids == special
        return torch.where(keep, ids, torch.full_like(ids, self.pad_id))

    def pretty(self, token: str) -> str:
        """A token string as read: ``Ġfilm`` -> ``film`` (byte-level BPE), ``▁film`` ->
        ``film``; WordPiece pieces (``##s``) and tokens without a tokenizer as they are."""
        if token.startswith("##") or self.tokenizer is None:
            return token
        try:
            text = self.tokenizer.convert_tokens_to_string([token]).strip()
        except Exception:  # a tokenizer without a decoder for single tokens
            return token
        return text or token

    # -- helpers -------------------------------------------------------------------------------
    def _continues(self, previous: str, token: str) -> bool:
        """Whether ``token`` continues the word of ``previous``: a WordPiece ``##`` piece, or
        no space between them once decoded (``Ġfilm`` ``s``); punctuation stands alone."""
        if token.startswith("##"):
            return True
        alone = self.pretty(token)
        if not any(c.isalnum() for c in alone):
            return False
        joined = self.tokenizer.convert_tokens_to_string([previous, token]).strip()
        return " " not in joined
