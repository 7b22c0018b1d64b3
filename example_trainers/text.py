"""Seed 003's text workflow: a small transformer classifies generated movie-review sentences;
LayerIntegratedGradients on the embedding colours each token, AttentionMonitor draws each head.

python -m example_trainers.text          # offline, generated corpus (~15 s on 2 CPU cores)
tensorboard --logdir xai_logs            # IMAGES: xai/tokens/..., xai/attention/...; TEXT tab
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor

from example_trainers.common import fit_and_report, make_parser
from example_trainers.models import Classifier, TextTransformer
from example_trainers.sentiment import SentimentDataModule
from lightning_xai import AttentionMonitor, AttributionMonitor


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation accuracy and the TensorBoard command; returns metrics."""
    parser = make_parser("text", __doc__, max_epochs=10)
    parser.add_argument("--corpus-size", type=int, default=2000, help="generated sentences")
    args = parser.parse_args(argv)

    pl.seed_everything(args.seed, verbose=False)
    data = SentimentDataModule(size=args.corpus_size, seed=args.seed)
    data.setup()

    def reference(ids: Tensor) -> Tensor:
        """The baseline sentence: [CLS] kept, every other token padding."""
        return torch.where(ids == data.cls_id, ids, data.pad_id)

    tokens = {"vocabulary": data.vocabulary, "pad_id": data.pad_id}
    callbacks = [
        AttributionMonitor(
            {
                "LayerIntegratedGradients": {
                    "layer": "net.embedding",
                    "baselines": reference,
                    "n_steps": 32,
                }
            },
            num_probes=args.num_probes,
            **tokens,
        ),
        AttentionMonitor(num_probes=args.num_probes, **tokens),
    ]
    net = TextTransformer(len(data.vocabulary), max_len=data.max_len, pad_id=data.pad_id)
    return fit_and_report("text", Classifier(net, lr=2e-3), data, callbacks, args)


if __name__ == "__main__":
    main()
