"""Dict batches and dynamically padded data: keywords, common lengths, the probe's state."""

from __future__ import annotations

import io

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lightning_xai.inputs import ModelInputs, keyword_call
from lightning_xai.probe import Probe
from lightning_xai.targets import SelectOutput


def _samples(count: int) -> list[dict]:
    """Sentences of 2..9 tokens (ids 3.., first token 1 = [CLS]) with a label."""
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, 10, (count,), generator=gen).tolist()
    return [{"input_ids": [1, *range(3, 2 + n)], "labels": i % 2} for i, n in enumerate(lengths)]


def _pad_each_batch(left: bool):
    """A collate that pads each batch to its own longest sample with pad id 2, as
    DataCollatorWithPadding does (``padding_side`` right or left)."""

    def collate(items: list[dict]) -> dict[str, Tensor]:
        longest = max(len(i["input_ids"]) for i in items)
        ids, mask = [], []
        for item in items:
            pad = longest - len(item["input_ids"])
            tokens, ones = item["input_ids"], [1] * len(item["input_ids"])
            ids.append([2] * pad + tokens if left else tokens + [2] * pad)
            mask.append([0] * pad + ones if left else ones + [0] * pad)
        labels = torch.tensor([i["labels"] for i in items])
        return {
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(mask),
            "labels": labels,
        }

    return collate


@pytest.mark.parametrize("left", [False, True])
def test_probe_from_dynamically_padded_batches(left: bool) -> None:
    data = _samples(300)  # more than one scan chunk of 64: chunks of different lengths
    loader = DataLoader(data, batch_size=32, collate_fn=_pad_each_batch(left))  # type: ignore[arg-type]
    probe = Probe(num_probes=6, seed=1)
    probe.select(loader, "cpu")
    batch = probe.batch
    assert batch.keys == ("input_ids", "attention_mask") and probe.labels is not None
    lengths = [len(data[i]["input_ids"]) for i in probe.indices]
    assert probe.lengths.tolist() == lengths  # the original lengths are kept
    ids, mask = batch.first, batch.keyword("attention_mask")
    assert ids.shape == (6, max(lengths))  # cut to the probe's longest sample
    for row, i in enumerate(probe.indices):
        tokens = torch.tensor(data[i]["input_ids"])
        kept = ids[row][mask[row] == 1]
        assert torch.equal(kept, tokens) and bool((ids[row][mask[row] == 0] == 2).all())
        assert bool(mask[row, 0] == 1) != (left and len(tokens) < max(lengths))
    # the same probe from the iterable path (no map-style dataset)
    again = Probe(num_probes=6, seed=1)
    again.select(iter(loader), "cpu")
    assert again.batch.first.shape[0] == 6 and again.batch.keys == batch.keys
    # checkpoint state: tensors and plain types, keys included
    buffer = io.BytesIO()
    torch.save(probe.state_dict(), buffer)
    buffer.seek(0)
    restored = Probe(num_probes=6)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.batch.keys == batch.keys and torch.equal(restored.batch.first, ids)
    assert torch.equal(restored.lengths, probe.lengths)


def test_other_shape_differences_are_named() -> None:
    images = [(torch.zeros(3, 8 + 8 * (i // 64), 8), 0) for i in range(128)]
    with pytest.raises(ValueError, match="only the length"):
        Probe(num_probes=4).select(iter(DataLoader(images, batch_size=64)), "cpu")  # type: ignore[arg-type]


class _Keywords(nn.Module):
    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> dict:
        return {"logits": (input_ids * attention_mask).float().sum(1, keepdim=True)}


def test_models_are_called_with_the_keywords_they_take() -> None:
    ids, mask, types = torch.tensor([[1, 2]]), torch.tensor([[1, 0]]), torch.zeros(1, 2)
    batch = ModelInputs.of(ids, (mask, types), ("input_ids", "attention_mask", "token_type_ids"))
    # token_type_ids is not a parameter of the model: left out, as its training step does
    assert batch(_Keywords())["logits"].item() == 1.0
    assert batch.names(_Keywords()) == ["input_ids"]
    # Captum calls positionally: SelectOutput maps the positions back to the keywords and
    # explains a ModelOutput-like mapping through its logits
    wrapped = SelectOutput(_Keywords())
    wrapped.keys = batch.keys
    assert wrapped(ids, mask, types).item() == 1.0
    assert keyword_call(lambda x, y: x - y, (3, 1), ("a", "b")) == 2  # no such names: positional
    assert keyword_call(lambda **kw: sorted(kw), (3, 1), ("a", "b")) == ["a", "b"]
