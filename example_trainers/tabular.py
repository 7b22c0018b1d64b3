"""Seed 004: small dense networks on scikit-learn tables, explained per feature.

python -m example_trainers.tabular                          # breast cancer: 30 features, 2 classes
python -m example_trainers.tabular --dataset diabetes       # regression, 10 features (target=None)
python -m example_trainers.tabular --dataset california     # the tutorial's housing data (download)
tensorboard --logdir xai_logs       # IMAGES: bar charts per sample and mean |attribution|;
                                    # SCALARS: xai/features/<method>/<feature> over training
"""

from __future__ import annotations

import pytorch_lightning as pl

from example_trainers.common import fit_and_report, make_parser
from example_trainers.data import TabularDataModule
from example_trainers.models import Classifier, Regressor, TabularNet
from lightning_xai import AttributionMonitor

# As in the tutorial: input features, then the 10 units of the second layer, then what drives
# its 6th unit. Layer names are relative to the LightningModule.
METHODS = {
    "IntegratedGradients": {"n_steps": 32},
    "FeatureAblation": {},
    "LayerIntegratedGradients": {"layer": "net.lin2", "n_steps": 32},
    "NeuronIntegratedGradients": {"layer": "net.lin2", "neuron_selector": 5, "n_steps": 32},
}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the validation score and the TensorBoard command; returns metrics."""
    parser = make_parser("tabular", __doc__, max_epochs=30)
    parser.add_argument(
        "--dataset", choices=("breast_cancer", "diabetes", "california"), default="breast_cancer"
    )
    parser.add_argument("--data-dir", help="scikit-learn data home for the California download")
    args = parser.parse_args(argv)

    pl.seed_everything(args.seed, verbose=False)
    data = TabularDataModule(args.dataset, args.data_dir, seed=args.seed)
    try:
        data.setup()
    except OSError as err:  # fetch_california_housing without internet
        parser.exit(2, f"error: {args.dataset} could not be loaded: {err}\n")
    net = TabularNet(len(data.feature_names), data.num_outputs)
    classification = data.task == "classification"
    monitor = AttributionMonitor(
        METHODS,
        target="pred" if classification else None,  # None: the single regression output
        feature_names=data.feature_names,
        num_probes=args.num_probes,
    )
    model = Classifier(net, lr=1e-2) if classification else Regressor(net, lr=1e-2)
    return fit_and_report(f"tabular_{args.dataset}", model, data, [monitor], args)


if __name__ == "__main__":
    main()
