"""Seed 003's DistilBERT workflow without glue: a Hugging Face sequence classifier trained from
dict batches padded by ``DataCollatorWithPadding``; AttributionMonitor explains it with
LayerIntegratedGradients on the input embedding and FeatureAblation of tokens, words decoded
by the tokenizer, and no ``batch_transform``, ``output_transform`` or ``layer``.

python -m example_trainers.hf_text                  # tiny random BERT, offline (~30 s)
python -m example_trainers.hf_text --pretrained distilbert-base-uncased   # downloads
tensorboard --logdir xai_logs                       # IMAGES: xai/tokens/...; TEXT tab
"""

from __future__ import annotations

import pytorch_lightning as pl

from example_trainers.common import fit_and_report, make_parser
from example_trainers.hf import DictBatches, HFModule, word_piece_tokenizer
from lightning_xai import AttributionMonitor

METHODS = {"LayerIntegratedGradients": {"n_steps": 32}, "FeatureAblation": {}}


def tiny_bert(vocab_size: int, pad_id: int) -> object:
    """A randomly initialised 2-layer BERT classifier (hidden size 32), 2 labels."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=2, pad_token_id=pad_id,
    )  # fmt: skip
    return BertForSequenceClassification(config)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = make_parser("hf_text", __doc__, max_epochs=6, num_probes=4)
    parser.add_argument("--corpus-size", type=int, default=2000, help="generated sentences")
    parser.add_argument(
        "--pretrained", help="a Hugging Face model name to fine-tune (downloads it)"
    )
    args = parser.parse_args(argv)
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
    )

    pl.seed_everything(args.seed, verbose=False)
    if args.pretrained:
        tokenizer = AutoTokenizer.from_pretrained(args.pretrained)
        model = AutoModelForSequenceClassification.from_pretrained(args.pretrained, num_labels=2)
    else:
        tokenizer = word_piece_tokenizer()
        model = tiny_bert(tokenizer.vocab_size, tokenizer.pad_token_id)
    data = DictBatches(
        tokenizer, DataCollatorWithPadding(tokenizer), args.corpus_size, seed=args.seed
    )
    monitor = AttributionMonitor(
        METHODS, target="label", tokenizer=tokenizer, merge_words=True, num_probes=args.num_probes
    )
    lr = 5e-5 if args.pretrained else 2e-3
    return fit_and_report("hf_text", HFModule(model, lr=lr), data, [monitor], args)


if __name__ == "__main__":
    main()
