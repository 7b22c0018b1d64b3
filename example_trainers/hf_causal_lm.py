"""A causal language model fine-tuned to continue movie-review sentences; LanguageModelMonitor
shows, at every validation epoch, which prompt tokens the log-probability of a fixed
continuation relies on (Captum's LLMAttribution with FeatureAblation, and
LLMGradientAttribution with LayerIntegratedGradients on the input embedding).

python -m example_trainers.hf_causal_lm                  # tiny random GPT-2, offline (~30 s)
python -m example_trainers.hf_causal_lm --pretrained gpt2   # downloads GPT-2 (500 MB)
tensorboard --logdir xai_logs                            # IMAGES: xai/prompts/...; SCALARS
"""

from __future__ import annotations

import pytorch_lightning as pl

from example_trainers.common import fit_and_report, make_parser
from example_trainers.hf import DictBatches, HFModule, causal_tokenizer
from lightning_xai import LanguageModelMonitor

PROMPTS = {
    "the film was not": "wonderful",
    "i thought the plot was really": "dull",
    "what a charming": "movie",
}
METHODS = {"FeatureAblation": {}, "LayerIntegratedGradients": {"n_steps": 16}}


def tiny_gpt2(vocab_size: int, tokenizer: object) -> object:
    """A randomly initialised 2-layer GPT-2 (width 32) for ``tokenizer``'s ids."""
    from transformers import GPT2Config, GPT2LMHeadModel

    ids = {k: getattr(tokenizer, f"{k}_token_id") for k in ("bos", "eos", "pad")}
    config = GPT2Config(
        vocab_size=vocab_size, n_positions=32, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"],
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation loss and the TensorBoard command; returns metrics."""
    parser = make_parser("hf_causal_lm", __doc__, max_epochs=4)
    parser.add_argument("--corpus-size", type=int, default=2000, help="generated sentences")
    parser.add_argument("--pretrained", help="a Hugging Face causal LM to fine-tune (downloads)")
    args = parser.parse_args(argv)
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling

    pl.seed_everything(args.seed, verbose=False)
    if args.pretrained:
        tokenizer = AutoTokenizer.from_pretrained(args.pretrained)
        tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(args.pretrained)
    else:
        tokenizer = causal_tokenizer()
        model = tiny_gpt2(len(tokenizer), tokenizer)
    collate = DataCollatorForLanguageModeling(tokenizer, mlm=False)  # labels: the inputs
    data = DictBatches(tokenizer, collate, args.corpus_size, seed=args.seed, sentiment=False)
    monitor = LanguageModelMonitor(PROMPTS, tokenizer, METHODS)
    lr = 5e-5 if args.pretrained else 3e-3
    return fit_and_report("hf_causal_lm", HFModule(model, lr=lr), data, [monitor], args)


if __name__ == "__main__":
    main()
