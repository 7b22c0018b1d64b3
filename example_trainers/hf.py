"""What the Hugging Face trainers share: tokenizers made offline from the generated corpus's
words, a LightningModule that trains any ``transformers`` model from dict batches, and the
dict-batch data module (``DataCollatorWithPadding``: each batch padded to its own longest).

Needs ``pip install transformers``. The tokenizers are built from a vocabulary file written to a
temporary folder (no download); words longer than 7 letters are split into word pieces
(``wonderful`` -> ``wonder`` ``##ful``), as a real WordPiece vocabulary does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from example_trainers.sentiment import make_corpus, vocabulary

__all__ = ["DictBatches", "HFModule", "causal_tokenizer", "word_piece_tokenizer"]

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]"]


def _vocabulary_file() -> str:
    """The corpus's words (long ones as word pieces) after the special tokens, in a file."""
    pieces: dict[str, None] = {}
    for word in vocabulary()[2:]:  # without the trainer's own <pad> and [CLS]
        if len(word) > 7:
            pieces.update({word[:6]: None, f"##{word[6:]}": None})
        else:
            pieces[word] = None
    path = Path(tempfile.mkdtemp(prefix="xai_vocab_")) / "vocab.txt"
    path.write_text("\n".join([*SPECIAL, *pieces]) + "\n")
    return str(path)


def word_piece_tokenizer() -> Any:
    """A BERT tokenizer (``[CLS] ... [SEP]``, ``[PAD]`` = 0) over the corpus's words."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast(_vocabulary_file())


def causal_tokenizer() -> Any:
    """A WordPiece tokenizer for a causal language model: ``[BOS]`` first, no ``[SEP]``,
    ``[EOS]`` also the pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = Path(_vocabulary_file()).read_text().split()
    core = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece()
    core.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", words.index("[BOS]"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="[BOS]", eos_token="[EOS]", unk_token="[UNK]",
        pad_token="[EOS]",
    )  # fmt: skip


class DictBatches(pl.LightningDataModule):
    """The generated corpus tokenized into dicts (``input_ids``, ``attention_mask``,
    ``labels``), batched by ``collate`` (``DataCollatorWithPadding`` for a classifier);
    a seeded 80/20 split.

    Args:
        tokenizer: the tokenizer.
        collate: the collate function (e.g. ``DataCollatorWithPadding(tokenizer)``).
        size: sentences generated.
        batch_size: samples per batch.
        seed: seed of the corpus.
        sentiment: give the sentiment ``labels`` (a classifier); else none (a language
            model's collate makes them).
    """

    def __init__(
        self,
        tokenizer: Any,
        collate: Any,
        size: int = 2000,
        batch_size: int = 32,
        seed: int = 0,
        sentiment: bool = True,
    ) -> None:
        super().__init__()
        corpus = make_corpus(size, seed)
        samples = [
            {**tokenizer(text), **({"labels": label} if sentiment else {})}
            for text, label in corpus
        ]
        cut = int(0.8 * len(samples))
        self.train_set, self.val_set = samples[:cut], samples[cut:]
        self.collate, self.batch_size = collate, batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            self.batch_size,
            shuffle=True,
            collate_fn=self.collate,  # type: ignore[arg-type]
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.batch_size, collate_fn=self.collate)  # type: ignore[arg-type]


class HFModule(pl.LightningModule):
    """Trains a ``transformers`` model on dict batches, as Lightning's Hugging Face examples
    do: ``forward(**batch)`` returns the model's ``ModelOutput``, whose ``loss`` is trained;
    classifiers also log ``<stage>_acc``."""

    def __init__(self, model: torch.nn.Module, lr: float = 1e-3) -> None:
        super().__init__()
        self.model = model
        self.lr = lr

    def forward(self, **inputs: Tensor) -> Any:
        return self.model(**inputs)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        out = self(**batch)
        self.log(f"{stage}_loss", out.loss, prog_bar=stage == "val")
        if out.logits.ndim == 2:  # a sequence classifier
            accuracy = (out.logits.argmax(1) == batch["labels"]).float().mean()
            self.log(f"{stage}_acc", accuracy, prog_bar=stage == "val")
        return out.loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr)
