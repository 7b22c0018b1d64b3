"""Attention from Hugging Face, timm and torchvision transformers; rollout; the monitors in a
Trainer on tiny random configurations (no downloads)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_xai import AttentionMonitor, AttributionMonitor
from lightning_xai.capture.adapters import find_attention_layers
from lightning_xai.capture.attention import capture_attention
from lightning_xai.methods import AttentionRollout, GradientAttentionRollout
from lightning_xai.tags import TAGS
from lightning_xai.targets import SelectOutput
from tests.support.helpers import LitClassifier, digits_tensors, make_trainer, read_events

transformers = pytest.importorskip("transformers")
timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

ROLLOUTS = ["AttentionRollout", "GradientAttentionRollout"]


def _bert(**overrides: Any) -> nn.Module:
    options = {"vocab_size": 99, **overrides}
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, **options
    )
    return transformers.BertForSequenceClassification(config).eval()


def _hf_vit(**overrides: Any) -> nn.Module:
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        image_size=8, patch_size=2, num_channels=1, num_labels=10, **overrides,
    )  # fmt: skip
    return transformers.ViTForImageClassification(config).eval()


def _timm_vit() -> nn.Module:
    return timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=3, depth=2
    ).eval()


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _eager_attentions(model: nn.Module, x: Tensor) -> tuple[Tensor, ...]:
    """What a Hugging Face model returns when asked directly (loaded as eager)."""
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    with torch.no_grad():
        return eager(x, output_attentions=True).attentions


def _timm_direct(model: nn.Module, x: Tensor, grad: bool = False) -> tuple[list[Tensor], Tensor]:
    """timm's unfused path, its softmax read where it enters ``attn @ v``."""
    model = copy.deepcopy(model)
    seen: list[Tensor] = []
    for block in model.blocks:
        block.attn.fused_attn = False
        block.attn.attn_drop.register_forward_hook(lambda m, a, out: seen.append(out))
    with torch.set_grad_enabled(grad):
        outputs = model(x)
    return seen, outputs


@pytest.mark.parametrize("kind", ["bert", "hf_vit", "timm", "torchvision"])
def test_captured_attention_equals_what_the_model_returns(kind: str) -> None:
    torch.manual_seed(0)
    if kind == "bert":
        model, x = _bert(), torch.randint(1, 99, (3, 7))
    elif kind == "hf_vit":
        model, x = _hf_vit(), torch.rand(3, 1, 8, 8)
    elif kind == "timm":
        model, x = _timm_vit(), torch.rand(3, 3, 32, 32)
    else:
        model = torchvision.models.VisionTransformer(
            image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=37,
            num_classes=3,
        ).eval()  # fmt: skip
        x = torch.rand(3, 3, 32, 32)
    config = copy.deepcopy(getattr(model, "config", None))
    implementation = getattr(config, "_attn_implementation", None)
    fused = [getattr(m, "fused_attn", None) for m in model.modules()]
    with torch.no_grad():
        reference = model(x)
    captured, outputs, reused = capture_attention(model, None, x)
    assert len(captured) == 2 and not reused
    if kind in ("bert", "hf_vit"):
        direct = list(_eager_attentions(model, x))
        assert implementation == "sdpa" and model.config._attn_implementation == "sdpa"
        assert model.config.to_dict() == config.to_dict()
        assert not model.config.output_attentions
        torch.testing.assert_close(outputs.logits, reference.logits, atol=1e-6, rtol=1e-5)
    elif kind == "timm":
        direct, _ = _timm_direct(model, x)
        assert torch.equal(outputs, reference)  # the fused kernel ran, untouched
        assert [getattr(m, "fused_attn", None) for m in model.modules()] == fused
    else:
        direct = _torchvision_direct(model, x)
        torch.testing.assert_close(outputs, reference)
    assert [w.shape for w in captured.values()] == [d.shape for d in direct]
    for got, want in zip(captured.values(), direct, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    # transformers installs its own output recorders once, on the first output_attentions pass
    hooks = _hooks(model)
    capture_attention(model, None, x)
    assert _hooks(model) == hooks and (hooks == 0 or kind in ("bert", "hf_vit"))


def _torchvision_direct(model: nn.Module, x: Tensor) -> list[Tensor]:
    """torchvision's EncoderBlock asks for no weights: each layer asked directly."""
    weights = []
    with torch.no_grad():
        tokens = model._process_input(x)
        tokens = torch.cat([model.class_token.expand(x.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + model.encoder.pos_embedding
        for block in model.encoder.layers:
            y = block.ln_1(tokens)
            _, w = block.self_attention(y, y, y, need_weights=True, average_attn_weights=False)
            weights.append(w)
            tokens = block(tokens)
    return weights


def test_layers_are_listed_and_a_callable_covers_anything_else() -> None:
    model = _bert()
    names = list(find_attention_layers(model))
    assert names == [f"bert.encoder.layer.{i}.attention.self" for i in range(2)]
    lit = _LitText(model)
    with pytest.raises(ValueError, match=r"'net.bert.pooler', a BertPooler .*attention\.self"):
        AttentionMonitor(layers=["net.bert.pooler"])._bind(None, lit)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`attention_fn` must be a callable"):
        AttentionMonitor(attention_fn=3)  # type: ignore[arg-type]


def _hand_rollout(attentions: list[Tensor], grads: list[Tensor] | None = None) -> Tensor:
    """The papers' formulas, written out: [N, L, L]."""
    n, _, length, _ = attentions[0].shape
    result = torch.eye(length).repeat(n, 1, 1)
    for i, a in enumerate(attentions):
        if grads is None:
            result = torch.bmm(0.5 * a.mean(dim=1) + 0.5 * torch.eye(length), result)
        else:
            result = result + torch.bmm((grads[i] * a).clamp(min=0).mean(dim=1), result)
    return result


def test_rollout_equals_a_hand_computation_on_bert_and_timm() -> None:
    torch.manual_seed(0)
    bert, ids, target = _bert(), torch.randint(1, 99, (3, 6)), torch.tensor([0, 1, 1])
    logits_of = SelectOutput(bert, lambda out: out.logits)
    eager = copy.deepcopy(bert)
    eager.set_attn_implementation("eager")
    out = eager(ids, output_attentions=True)
    attentions = list(out.attentions)
    grads = torch.autograd.grad(out.logits.gather(1, target[:, None]).sum(), attentions)
    attentions = [a.detach() for a in attentions]
    plain = AttentionRollout(logits_of).attribute(ids)
    torch.testing.assert_close(plain, _hand_rollout(attentions)[:, 0])
    weighted = GradientAttentionRollout(logits_of).attribute(ids, target=target)
    torch.testing.assert_close(weighted, _hand_rollout(attentions, list(grads))[:, 0])
    assert bert.config._attn_implementation == "sdpa"

    vit, x = _timm_vit(), torch.rand(2, 3, 32, 32)
    seen, outputs = _timm_direct(vit, x, grad=True)
    grads = torch.autograd.grad(outputs[:, 2].sum(), seen)
    hand = _hand_rollout([s.detach() for s in seen], list(grads))[:, 0, 1:].reshape(2, 1, 2, 2)
    weighted = GradientAttentionRollout(vit).attribute(x, target=2)
    torch.testing.assert_close(weighted, hand)
    plain = _hand_rollout([s.detach() for s in seen])[:, 0, 1:].reshape(2, 1, 2, 2)
    torch.testing.assert_close(AttentionRollout(vit).attribute(x), plain)
    assert all(block.attn.fused_attn for block in vit.blocks)


class _LitViT(LitClassifier):
    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.net(pixel_values).logits


class _LitText(LitClassifier):
    def forward(self, ids: Tensor) -> Tensor:
        return self.net(ids, attention_mask=(ids != 0).long()).logits


def _loaders(x: Tensor, y: Tensor, n_train: int) -> tuple[DataLoader, DataLoader]:
    train = DataLoader(TensorDataset(x[:n_train], y[:n_train]), batch_size=16, shuffle=True)
    return train, DataLoader(TensorDataset(x[n_train:], y[n_train:]), batch_size=16)


def _fit_vit(root: Path, callbacks: list[pl.Callback]) -> dict[str, Tensor]:
    pl.seed_everything(0, verbose=False)
    vit = _hf_vit(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1).train()
    model = _LitViT(vit)
    x, y = digits_tensors(64)
    trainer = make_trainer(
        root, callbacks, max_epochs=2, limit_train_batches=2, limit_val_batches=1,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, *_loaders(x, y, 32))
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_hf_vit_in_a_trainer_logs_views_and_rollouts_and_training_is_unchanged(
    tmp_path: Path,
) -> None:
    attention = AttentionMonitor(samples=(0,), num_probes=4)
    attribution = AttributionMonitor(methods=ROLLOUTS, num_probes=4, on_error="raise")
    without = _fit_vit(tmp_path / "a", [])
    with_monitors = _fit_vit(tmp_path / "b", [attention, attribution])
    assert attention.runs == attribution.runs == 2 and not attention.errors
    for name, tensor in without.items():
        assert torch.equal(tensor, with_monitors[name]), name  # weights, bitwise

    events = read_events(tmp_path / "b" / "tb" / "version_0")
    images, scalars = set(events.Tags()["images"]), set(events.Tags()["scalars"])
    layers = [f"net.vit.layers.{i}.attention" for i in range(2)]
    assert set(attention.latest) == set(layers)
    for layer in layers:
        pictures = {TAGS["attention"](layer=layer, k=0), TAGS["attention_cls"](layer=layer, k=0)}
        assert pictures <= images
        heads = {TAGS["attention_head_entropy"](layer=layer, head=h) for h in range(2)}
        assert heads | {TAGS["attention_entropy"](layer=layer)} <= scalars
    assert TAGS["attention_model"](k=0) in images
    assert len(events.Images(TAGS["attention_model"](k=0))) == 2  # one per epoch
    for method in ("attention_rollout", "gradient_attention_rollout"):
        assert TAGS["attribution"](method=method, k=0) in images
        assert attribution.latest[
            "AttentionRollout" if method == "attention_rollout" else "GradientAttentionRollout"
        ].shape == (4, 1, 8, 8)  # the 4 x 4 patch map, upsampled to the digit


@pytest.mark.slow
def test_bert_in_a_trainer_logs_token_attention_and_token_rollouts(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ids = torch.randint(2, 20, (64, 9))
    ids[:, 0] = 1
    ids[torch.arange(9) >= torch.randint(4, 10, (64, 1))] = 0
    labels = (ids[:, 1] % 2).long()
    vocab = ["<pad>", "[CLS]", *(f"w{i}" for i in range(18))]
    model = _LitText(_bert(vocab_size=20, num_labels=2, pad_token_id=0).train())
    attention = AttentionMonitor(samples=(0,), num_probes=4, vocabulary=vocab, pad_id=0)
    attribution = AttributionMonitor(
        methods=ROLLOUTS, num_probes=4, vocabulary=vocab, pad_id=0, on_error="raise"
    )
    trainer = make_trainer(
        tmp_path, [attention, attribution], max_epochs=1, limit_train_batches=2,
        limit_val_batches=1, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, *_loaders(ids, labels, 48))
    events = read_events(tmp_path / "tb" / "version_0")
    images = set(events.Tags()["images"])
    assert TAGS["attention"](layer="net.bert.encoder.layer.1.attention.self", k=0) in images
    assert TAGS["attention_model"](k=0) in images
    for method in ("attention_rollout", "gradient_attention_rollout"):
        assert TAGS["tokens"](method=method, k=0) in images
    probe = attribution.probe.inputs
    assert attribution.latest["AttentionRollout"].shape == probe.shape  # a score per token
    assert model.net.config._attn_implementation == "sdpa"


class _OneAttention(nn.Module):
    """Tokens [N, L, 8] -> one nn.MultiheadAttention -> the first token -> 3 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.attn(x, x, x, need_weights=False)[0][:, 0])


def test_gradient_rollout_through_multihead_attention_equals_a_hand_computation() -> None:
    torch.manual_seed(0)
    model, x, target = _OneAttention().eval(), torch.randn(2, 5, 8), torch.tensor([2, 0])
    attn = model.attn
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.reshape(2, 5, 2, 4).transpose(1, 2) for t in (q, k, v))  # [N, H, L, d]
    weights = torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1)  # the paper's A, by hand
    context = (weights @ v).transpose(1, 2).reshape(2, 5, 8)
    logits = model.head(attn.out_proj(context)[:, 0])
    torch.testing.assert_close(logits, model(x))
    (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), weights)
    hand = _hand_rollout([weights.detach()], [grad])[:, 0]
    torch.testing.assert_close(GradientAttentionRollout(model).attribute(x, target=target), hand)
    plain = _hand_rollout([weights.detach()])[:, 0]
    torch.testing.assert_close(AttentionRollout(model).attribute(x), plain)


class _HandAttentionNet(nn.Module):
    """Tokens [N, L, 8] with attention written by hand (no implementation the capture knows)."""

    def __init__(self) -> None:
        super().__init__()
        self.qk = nn.Linear(8, 16)
        self.head = nn.Linear(8, 2)

    def weights(self, x: Tensor) -> Tensor:
        q, k = self.qk(x).chunk(2, dim=-1)
        return torch.softmax(q @ k.transpose(-2, -1) / 8**0.5, dim=-1)[:, None]  # [N, 1, L, L]

    def forward(self, x: Tensor) -> Tensor:
        return self.head((self.weights(x)[:, 0] @ x)[:, 0])


def test_attention_fn_feeds_the_monitor_in_a_trainer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(48, 5, 8), torch.randint(0, 2, (48,))
    lit = LitClassifier(_HandAttentionNet())
    with pytest.raises(MisconfigurationException, match="pass `attention_fn=`"):
        AttentionMonitor()._bind(None, lit)  # type: ignore[arg-type]

    def attention_fn(module: nn.Module, inputs: Tensor) -> dict[str, Tensor]:
        return {"hand": module.net.weights(inputs)}

    wrong = AttentionMonitor(layers=["nope"], attention_fn=attention_fn, num_probes=4)
    trainer = make_trainer(tmp_path / "a", [wrong], max_epochs=1, num_sanity_val_steps=0)
    with pytest.raises(ValueError, match=r"`layers` names \['nope'\].*returns: \['hand'\]"):
        trainer.fit(lit, *_loaders(x, y, 32))
    monitor = AttentionMonitor(attention_fn=attention_fn, samples=(0,), num_probes=4)
    trainer = make_trainer(
        tmp_path / "b", [monitor], max_epochs=1, limit_train_batches=2, limit_val_batches=1,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(lit, *_loaders(x, y, 32))
    assert monitor.runs == 1 and not monitor.errors
    expected = lit.net.weights(monitor.probe.inputs[:1]).detach()
    torch.testing.assert_close(monitor.latest["hand"], expected)
    events = read_events(tmp_path / "b" / "tb" / "version_0")
    assert TAGS["attention"](layer="hand", k=0) in events.Tags()["images"]
    assert TAGS["attention_head_entropy"](layer="hand", head=0) in events.Tags()["scalars"]
