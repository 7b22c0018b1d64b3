"""AttentionMonitor: exact weights from one hooked pass, hooks and fast path restored, tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_xai import AttentionMonitor
from lightning_xai.capture.attention import capture_attention
from lightning_xai.guard import attribution_guard
from lightning_xai.metrics.attention import attention_entropy
from lightning_xai.render.attention import attention_matrix, infer_patch_grid
from lightning_xai.render.panel import title_size
from lightning_xai.render.tokens import token_labels
from tests.support.helpers import (
    LitClassifier,
    TinyPatchNet,
    decode_image,
    make_trainer,
    read_events,
)

VOCAB = ["<pad>", "[CLS]", *(f"w{i}" for i in range(18))]
LAYER = "net.encoder.layers.0.self_attn"


class TokenNet(nn.Module):
    """Token ids [N, L] (0 = padding) -> [N, 2]; nn.TransformerEncoder with its defaults
    (nested-tensor fast path on), so the monitor must switch the fast path off to be exact."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(VOCAB), 16, padding_idx=0)
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(16, 2)

    def forward(self, ids: Tensor) -> Tensor:
        x = self.encoder(self.embedding(ids), src_key_padding_mask=ids == 0)
        return self.head(x[:, 0])


class AveragingNet(nn.Module):
    """Calls MultiheadAttention itself: averaged weights by default, a positional flag."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.quiet = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        out, weights = self.attn(x, x, x)  # [N, L, L], averaged over heads
        assert weights.ndim == 3
        quiet, none = self.quiet(out, out, out, None, False)  # need_weights=False by position
        assert none is None
        return quiet.mean(dim=1) + weights.sum(dim=(1, 2)).unsqueeze(1)


def _token_data(n: int = 64, length: int = 9) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(2, len(VOCAB), (n, length), generator=generator)
    ids[:, 0] = 1  # [CLS]
    lengths = torch.randint(3, length + 1, (n,), generator=generator)
    ids[torch.arange(length) >= lengths[:, None]] = 0
    return ids, (ids[:, 1] % 2).long()


class TokenData(pl.LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        ids, labels = _token_data()
        self.train_set = TensorDataset(ids[:48], labels[:48])
        self.val_set = TensorDataset(ids[48:], labels[48:])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=16, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=16)


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _keep(samples: Any) -> Any:
    return lambda weights: {"weights": weights[list(samples)]}


def _bound(model: nn.Module, **kwargs: Any) -> AttentionMonitor:
    monitor = AttentionMonitor(**kwargs)
    monitor._bind(None, model)  # type: ignore[arg-type]
    return monitor


def test_captured_weights_equal_a_direct_call_with_per_head_weights() -> None:
    model = TokenNet()
    ids, _ = _token_data(6)
    monitor = _bound(model, samples=(0, 1, 2, 3, 4, 5), num_probes=6)
    fast_path = torch.backends.mha.get_fastpath_enabled()
    with attribution_guard(model, grad=False):
        reference = model(ids)
        captured, outputs, _ = capture_attention(model, monitor._watched, ids, _keep(range(6)))
        x = model.embedding(ids)
        first = model.encoder.layers[0]
        _, direct = first.self_attn(
            x, x, x, key_padding_mask=ids == 0, need_weights=True, average_attn_weights=False
        )
        x = first(x, src_key_padding_mask=ids == 0)
        _, second = model.encoder.layers[1].self_attn(
            x, x, x, key_padding_mask=ids == 0, need_weights=True, average_attn_weights=False
        )
    assert set(captured) == {"encoder.layers.0.self_attn", "encoder.layers.1.self_attn"}
    torch.testing.assert_close(captured["encoder.layers.0.self_attn"]["weights"], direct)
    torch.testing.assert_close(captured["encoder.layers.1.self_attn"]["weights"], second)
    torch.testing.assert_close(outputs, reference, atol=1e-5, rtol=1e-5)
    assert _hook_count(model) == 0
    assert torch.backends.mha.get_fastpath_enabled() == fast_path


def test_callers_get_what_they_asked_for_and_hooks_go_even_on_error() -> None:
    model = AveragingNet().eval()
    x = torch.randn(3, 5, 8)
    monitor = _bound(model, samples=(0,), num_probes=3)
    with torch.no_grad():
        reference = model(x)
        captured, outputs, _ = capture_attention(model, monitor._watched, x, _keep([0]))
    torch.testing.assert_close(outputs, reference)
    assert captured["attn"]["weights"].shape == (1, 2, 5, 5)  # per head, though averaged asked
    assert captured["quiet"]["weights"].shape == (1, 2, 5, 5)  # though none asked
    fast_path = torch.backends.mha.get_fastpath_enabled()
    with pytest.raises(AssertionError, match="embedding dimension"):
        capture_attention(model, monitor._watched, torch.randn(3, 5, 7))  # fails inside
    assert _hook_count(model) == 0
    assert torch.backends.mha.get_fastpath_enabled() == fast_path


def test_in_a_trainer_logs_per_head_maps_with_token_labels_and_entropy(tmp_path: Path) -> None:
    model = LitClassifier(TokenNet())
    monitor = AttentionMonitor(vocabulary=VOCAB, pad_id=0, num_probes=4, samples=(0, 3))
    fast_path = torch.backends.mha.get_fastpath_enabled()
    make_trainer(tmp_path, [monitor], max_epochs=1).fit(model, datamodule=TokenData())
    events = read_events(tmp_path / "tb" / "version_0")
    images = set(events.Tags()["images"])
    for layer in (LAYER, "net.encoder.layers.1.self_attn"):
        assert {f"xai/attention/{layer}/sample_00", f"xai/attention/{layer}/sample_03"} <= images
        entropy = events.Scalars(f"xai/attention/{layer}/entropy")[-1].value
        assert 0 < entropy < torch.log(torch.tensor(9.0))
    assert not any("/cls/" in tag for tag in images)  # token inputs: no CLS-over-image maps
    # Padding is left out: the picture is as tall as the unpadded sentence's labelled matrix.
    probe = monitor.probe.inputs[0].cpu()
    kept = probe[probe != 0]
    strings = token_labels(kept, VOCAB)
    expected = attention_matrix(torch.rand(len(kept), len(kept)), strings, strings)
    picture = decode_image(events.Images(f"xai/attention/{LAYER}/sample_00")[-1])
    lines = 2 * (title_size(picture.shape[1]) + 4)  # title and header, grown with the width
    assert picture.shape[0] == expected.shape[1] + lines
    assert monitor.latest[LAYER].shape == (2, 4, 9, 9)
    assert _hook_count(model) == 0
    assert torch.backends.mha.get_fastpath_enabled() == fast_path


def test_image_inputs_get_cls_to_patch_maps(tmp_path: Path, data: pl.LightningDataModule) -> None:
    monitor = AttentionMonitor(num_probes=2, samples=(1,))
    make_trainer(tmp_path, [monitor], max_epochs=1).fit(
        LitClassifier(TinyPatchNet()), datamodule=data
    )
    images = set(read_events(tmp_path / "tb" / "version_0").Tags()["images"])
    assert {"xai/attention/net.attn/sample_01", "xai/attention/net.attn/cls/sample_01"} <= images


def test_configuration_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="AttentionMonitor: `layers`"):
        AttentionMonitor(layers=[3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"AttentionMonitor: `samples` .*\[0, 4\)"):
        AttentionMonitor(samples=(4,), num_probes=4)
    with pytest.raises(TypeError, match="AttentionMonitor: `vocabulary`"):
        AttentionMonitor(vocabulary="abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="AttentionMonitor: `patch_grid`"):
        AttentionMonitor(patch_grid=(4, 0))
    with pytest.raises(ValueError, match=r"'net.head', a Linear .*\['net.attn'\]"):
        _bound(LitClassifier(TinyPatchNet()), layers="net.head")
    with pytest.raises(MisconfigurationException, match=r"no attention layer to watch"):
        _bound(LitClassifier())


def test_renderers_and_entropy() -> None:
    assert attention_entropy(torch.eye(3).expand(2, 4, 3, 3)).tolist() == [0.0] * 4
    uniform = attention_entropy(torch.full((1, 1, 2, 5), 0.2))
    torch.testing.assert_close(uniform, torch.log(torch.tensor([5.0])))
    assert infer_patch_grid(17, (28, 28)) == (4, 4)
    assert infer_patch_grid(33, (28, 56)) == (4, 8)
    assert infer_patch_grid(12, (28, 28)) is None
    plain = attention_matrix(torch.rand(4, 6), cell=5)
    assert plain.shape == (3, 20, 30)
