from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from lightning_xai import Probe
from tests.support.helpers import digits_tensors


def _loader(n: int = 300) -> DataLoader:
    x, y = digits_tensors(n)
    return DataLoader(TensorDataset(x, y), batch_size=32)


def test_selection_is_seeded_and_class_balanced() -> None:
    a, b = Probe(num_probes=20, seed=3), Probe(num_probes=20, seed=3)
    a.select(_loader(), "cpu")
    b.select(_loader(), "cpu")
    assert torch.equal(a.inputs, b.inputs) and a.indices == b.indices
    counts = torch.bincount(a.labels, minlength=10)
    assert counts.tolist() == [2] * 10  # 20 probes over 10 classes
    assert a.labels[:10].tolist() == list(range(10))  # round-robin order: one of each first
    other = Probe(num_probes=20, seed=4)
    other.select(_loader(), "cpu")
    assert other.indices != a.indices


def test_selected_samples_are_the_dataset_items() -> None:
    loader = _loader()
    probe = Probe(num_probes=5, seed=0)
    probe.select(loader, "cpu")
    for row, index in enumerate(probe.indices):
        x, y = loader.dataset[index]
        assert torch.equal(probe.inputs[row], x) and int(probe.labels[row]) == int(y)


def test_explicit_tensors_and_indices() -> None:
    x = torch.randn(3, 1, 8, 8)
    probe = Probe(samples=(x, torch.tensor([1, 2, 3])))
    assert probe.ready and torch.equal(probe.inputs, x)
    by_index = Probe(samples=[5, 7])
    by_index.select(_loader(), "cpu")
    assert by_index.indices == [5, 7]
    assert torch.equal(by_index.inputs[1], _loader().dataset[7][0])


def test_iterable_datasets_and_unlabelled_batches() -> None:
    class Stream(IterableDataset):
        def __iter__(self):
            yield from torch.arange(40.0).reshape(40, 1)

    probe = Probe(num_probes=6, seed=1)
    probe.select(DataLoader(Stream(), batch_size=8), "cpu")
    assert probe.inputs.shape == (6, 1) and probe.labels is None
    assert len(set(probe.inputs.flatten().tolist())) == 6


def test_dict_batches_and_batch_transform() -> None:
    probe = Probe()
    x = torch.zeros(2, 3)
    assert probe.unpack({"image": x, "label": torch.ones(2)})[0].first is x
    custom = Probe(batch_transform=lambda b: (b["pixels"], None))
    assert custom.unpack({"pixels": x})[0].first is x


def test_unreadable_batch_names_batch_transform() -> None:
    with pytest.raises(TypeError, match="batch_transform"):
        Probe().unpack({"pixels": torch.zeros(2)})
    with pytest.raises(TypeError, match="batch_transform"):
        Probe(batch_transform=lambda b: "nonsense").unpack(torch.zeros(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_probes": 0}, ValueError, "num_probes"),
        ({"num_probes": 2.5}, TypeError, "num_probes"),
        ({"seed": "a"}, TypeError, "seed"),
        ({"samples": []}, ValueError, "samples"),
        ({"samples": torch.zeros(0, 3)}, ValueError, "samples"),
        ({"samples": "abc"}, TypeError, "samples"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Probe(**kwargs)


def test_out_of_range_indices() -> None:
    with pytest.raises(ValueError, match="outside the validation dataset"):
        Probe(samples=[1, 10_000]).select(_loader(), "cpu")


def test_state_roundtrip_is_weights_only_safe(tmp_path) -> None:
    probe = Probe(num_probes=4)
    probe.select(_loader(), "cpu")
    torch.save(probe.state_dict(), tmp_path / "p.pt")
    restored = Probe(num_probes=4)
    restored.load_state_dict(torch.load(tmp_path / "p.pt", weights_only=True))
    assert torch.equal(restored.inputs, probe.inputs) and restored.indices == probe.indices


def test_inference_mode_selection_gives_normal_tensors() -> None:
    probe = Probe(num_probes=4)
    with torch.inference_mode():
        probe.select(_loader(), "cpu")
    assert not probe.inputs.is_inference()
