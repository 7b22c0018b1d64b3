"""A small sentiment corpus made offline: deterministic sentences from word lists, with negation.

"the acting was really wonderful" is positive, "the plot was not wonderful" negative, so a
model must read the sentiment word *and* the word before it. Every sentence starts with
``[CLS]``; id 0 is padding.
"""

from __future__ import annotations

import random

import torch
from torch.utils.data import TensorDataset

from example_trainers.data import SplitDataModule

__all__ = ["SentimentDataModule", "make_corpus"]

PAD, CLS = "<pad>", "[CLS]"
_SUBJECTS = ("the film", "this movie", "the plot", "the acting", "the ending", "the story")
_SUBJECTS += ("the cast", "the soundtrack", "the script", "the director")
_POSITIVE = ("great", "wonderful", "brilliant", "moving", "superb", "charming", "funny", "clever")
_NEGATIVE = ("awful", "boring", "dull", "terrible", "weak", "bland", "clumsy", "tedious")
_INTENSIFIERS = ("", "really", "truly", "very", "quite", "so")
_NOUNS = ("film", "movie", "story", "performance", "experience")
_TEMPLATES = (
    "{subject} was {intensifier} {adjective}",
    "{subject} is {intensifier} {adjective} and {adjective2}",
    "i thought {subject} was {intensifier} {adjective}",
    "{subject} was not {adjective}",
    "{subject} is not {intensifier} {adjective}",
    "what a {adjective} {noun}",
    "honestly {subject} felt {adjective}",
)


def make_corpus(size: int = 2000, seed: int = 0) -> list[tuple[str, int]]:
    """``size`` sentences with labels (1 positive, 0 negative), balanced in expectation.

    A sentence is positive when its sentiment word is positive and not negated by "not".

    Example:
        >>> make_corpus(2, seed=0)
        [('honestly the cast felt weak', 0), ('honestly the ending felt bland', 0)]
    """
    rng = random.Random(seed)
    corpus = []
    for _ in range(size):
        positive = rng.random() < 0.5
        words = _POSITIVE if positive else _NEGATIVE
        template = rng.choice(_TEMPLATES)
        sentence = template.format(
            subject=rng.choice(_SUBJECTS),
            intensifier=rng.choice(_INTENSIFIERS),
            adjective=rng.choice(words),
            adjective2=rng.choice(words),
            noun=rng.choice(_NOUNS),
        )
        negated = " not " in f" {sentence} "
        corpus.append((" ".join(sentence.split()), int(positive != negated)))
    return corpus


def vocabulary() -> list[str]:
    """Token strings by id: ``<pad>`` (0), ``[CLS]`` (1), then every word, sorted."""
    words = {w for t in _TEMPLATES for w in t.split() if not w.startswith("{")}
    for group in (_SUBJECTS, _POSITIVE, _NEGATIVE, _INTENSIFIERS, _NOUNS):
        words |= {w for phrase in group for w in phrase.split()}
    return [PAD, CLS, *sorted(words)]


class SentimentDataModule(SplitDataModule):
    """The generated corpus as token ids ``[N, max_len]`` (``[CLS]`` first, padded with 0) and
    labels ``[N]``; a seeded 80/20 train/val split.

    Attributes ``vocabulary`` (token strings by id), ``pad_id`` and ``cls_id`` describe the ids.
    """

    def __init__(self, size: int = 2000, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.vocabulary = vocabulary()
        self.pad_id, self.cls_id = 0, 1
        self.max_len = 0

    def setup(self, stage: str | None = None) -> None:
        index = {token: i for i, token in enumerate(self.vocabulary)}
        corpus = make_corpus(self.size, self.seed)
        encoded = [[self.cls_id, *(index[w] for w in text.split())] for text, _ in corpus]
        self.max_len = max(len(ids) for ids in encoded)
        ids = torch.full((len(encoded), self.max_len), self.pad_id, dtype=torch.long)
        for row, sentence in enumerate(encoded):
            ids[row, : len(sentence)] = torch.tensor(sentence)
        labels = torch.tensor([label for _, label in corpus], dtype=torch.long)
        cut = int(0.8 * len(labels))
        self.train_set = TensorDataset(ids[:cut], labels[:cut])
        self.val_set = TensorDataset(ids[cut:], labels[cut:])
