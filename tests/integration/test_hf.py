"""Hugging Face models without glue, in real Trainers (tiny random configs, tokenizers made
from generated vocabularies, no downloads): a BERT classifier from DataCollatorWithPadding
batches, and the LanguageModelMonitor on a GPT-2 against a direct Captum call."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from captum.attr import (
    FeatureAblation,
    LayerIntegratedGradients,
    LLMAttribution,
    LLMGradientAttribution,
    TextTokenInput,
)

from lightning_xai import AttributionMonitor, LanguageModelMonitor
from lightning_xai.tags import TAGS
from lightning_xai.token_text import TokenText
from tests.support.helpers import make_trainer, read_events

transformers = pytest.importorskip("transformers")
from example_trainers.hf import (  # noqa: E402
    DictBatches,
    HFModule,
    causal_tokenizer,
    word_piece_tokenizer,
)
from example_trainers.hf_causal_lm import tiny_gpt2  # noqa: E402
from example_trainers.hf_text import tiny_bert  # noqa: E402


def _table(acc, tag: str) -> str:
    return acc.Tensors(f"{tag}/text_summary")[-1].tensor_proto.string_val[0].decode()


@pytest.mark.slow
def test_bert_classifier_from_padded_dict_batches_needs_no_glue(tmp_path: Path) -> None:
    tokenizer = word_piece_tokenizer()
    collate = transformers.DataCollatorWithPadding(tokenizer)
    data = DictBatches(tokenizer, collate, size=1500, batch_size=32)  # 300 validation samples
    model = HFModule(tiny_bert(tokenizer.vocab_size, tokenizer.pad_token_id), lr=2e-3)
    methods = {"LayerIntegratedGradients": {"n_steps": 8}, "FeatureAblation": {}}
    monitor = AttributionMonitor(
        methods, target="label", tokenizer=tokenizer, merge_words=True, num_probes=4
    )
    trainer = make_trainer(tmp_path, [monitor], limit_train_batches=3, limit_val_batches=1)
    trainer.fit(model, datamodule=data)
    assert monitor.runs == 2 and not monitor.errors
    batch = monitor.probe.batch
    assert batch.keys == ("input_ids", "attention_mask", "token_type_ids")
    lengths = [len(data.val_set[i]["input_ids"]) for i in monitor.probe.indices]
    assert monitor.probe.lengths.tolist() == lengths
    assert batch.first.shape == (4, max(lengths))
    # the layer defaulted to the input embedding, the baseline to Captum's text baseline, and
    # the attribution equals a direct Captum call on the Hugging Face model
    bert = model.model.eval()
    layer = LayerIntegratedGradients(
        lambda ids, mask, types: (
            bert(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        ),
        bert.get_input_embeddings(),
    )
    ids = batch.first
    direct = layer.attribute(
        ids, baselines=TokenText(tokenizer).baseline(ids), target=monitor.probe.labels,
        additional_forward_args=batch.extra, n_steps=8,
    )  # fmt: skip
    torch.testing.assert_close(
        monitor.latest["LayerIntegratedGradients"], direct, atol=1e-5, rtol=1e-4
    )
    acc = read_events(tmp_path / "tb" / "version_0")
    for method in ("layer_integrated_gradients", "feature_ablation"):
        for k in range(4):
            tag = TAGS["tokens"](method=method, k=k)
            assert len(acc.Images(tag)) == 2  # per sample per epoch
            table = _table(acc, tag)
            assert "| *[CLS]* |" in table and "| *[SEP]* |" in table and "##" not in table
            assert "[PAD]" not in table and ("e-0" in table or "e+0" in table)
    assert not any(t.startswith("xai/errors/") for t in acc.Tags()["scalars"])


@pytest.mark.slow
def test_language_model_monitor_equals_captum_and_leaves_training_unchanged(
    tmp_path: Path,
) -> None:
    tokenizer = causal_tokenizer()
    prompts = {"the film was not": "wonderful", "what a charming": "movie"}
    methods = {"FeatureAblation": {}, "LayerIntegratedGradients": {"n_steps": 8}}

    def fit(root: Path, callbacks: list) -> HFModule:
        pl.seed_everything(0, verbose=False)
        collate = transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False)
        data = DictBatches(tokenizer, collate, size=200, batch_size=16, sentiment=False)
        model = HFModule(tiny_gpt2(len(tokenizer), tokenizer), lr=3e-3)
        make_trainer(root, callbacks, limit_train_batches=3, limit_val_batches=1).fit(model, data)
        return model

    monitor = LanguageModelMonitor(prompts, tokenizer, methods)
    plain, watched = fit(tmp_path / "a", []), fit(tmp_path / "b", [monitor])
    assert monitor.runs == 2 and not monitor.errors
    for name, tensor in plain.state_dict().items():  # dropout draws: the RNG is untouched
        assert torch.equal(tensor, watched.state_dict()[name]), name
    gpt = watched.model.eval()
    wrappers = {
        "FeatureAblation": LLMAttribution(FeatureAblation(gpt), tokenizer),
        "LayerIntegratedGradients": LLMGradientAttribution(
            LayerIntegratedGradients(gpt, gpt.get_input_embeddings()), tokenizer
        ),
    }
    acc = read_events(tmp_path / "b" / "tb" / "version_0")
    for k, (prompt, target) in enumerate(prompts.items()):
        inp = TextTokenInput(prompt, tokenizer, skip_tokens=tokenizer.all_special_ids)
        for name, wrapper in wrappers.items():
            direct = wrapper.attribute(inp, target=target, **methods[name])
            logged = monitor.latest[name][k]
            torch.testing.assert_close(logged.seq_attr, direct.seq_attr.cpu().float())
            torch.testing.assert_close(logged.token_attr, direct.token_attr.cpu().float())
        log_prob = acc.Scalars(TAGS["prompt_log_prob"](k=k))
        assert len(log_prob) == 2 and log_prob[-1].value < 0
        for method in ("feature_ablation", "layer_integrated_gradients"):
            tag = TAGS["prompt_tokens"](method=method, k=k)
            assert len(acc.Images(tag)) == 2
            assert f"| {inp.values[-1]} |" in _table(acc, tag)  # the prompt's last token


def test_text_options_are_checked() -> None:
    with pytest.raises(ValueError, match="`tokenizer` or `vocabulary`, not both"):
        AttributionMonitor(tokenizer=word_piece_tokenizer(), vocabulary=["a"])
    with pytest.raises(TypeError, match="AttributionMonitor: `tokenizer` must be a Hugging Face"):
        AttributionMonitor(tokenizer=["a"])
    with pytest.raises(TypeError, match="LanguageModelMonitor: `prompts` must be a mapping"):
        LanguageModelMonitor(["the film"], causal_tokenizer())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="LanguageModelMonitor: `methods` entry 'Saliency'"):
        LanguageModelMonitor({"a": "b"}, causal_tokenizer(), ["Saliency"])


def test_word_pieces_merge_into_words_and_special_tokens_are_kept_in_the_baseline() -> None:
    tokenizer = word_piece_tokenizer()
    ids = torch.tensor(tokenizer("the soundtrack was wonderful truly")["input_ids"])
    text = TokenText(tokenizer, merge_words=True)
    assert text.labels(ids)[:4] == ["[CLS]", "the", "soundt", "##rack"]
    words, values, special = text.words(ids, torch.arange(len(ids)).float())
    assert words == ["[CLS]", "the", "soundtrack", "was", "wonderful", "truly", "[SEP]"]
    assert values.tolist() == [0, 1, 2 + 3, 4, 5 + 6, 7, 8]
    assert special == [True] + [False] * 5 + [True]
    baseline = text.baseline(ids[None])[0]
    assert baseline[0] == ids[0] and baseline[-1] == ids[-1] and bool((baseline[1:-1] == 0).all())
