"""What a method needs and the user left out fails before the first training step, clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from lightning_xai import AttributionMonitor
from tests.support.helpers import DigitsData, LitClassifier, make_trainer
from tests.support.tabular import DiabetesData, LitRegressor

IMAGE, TABULAR = "image", "tabular"
# (model kind, monitor kwargs, error, message): every case must fail before training starts.
CASES: dict[str, tuple[str, dict[str, Any], type, str]] = {
    "layer method, no layer, no Conv2d": (
        TABULAR,
        {"methods": ["LayerGradCam"]},
        ValueError,
        r"'LayerGradCam' needs a `layer` and the model has no Conv2d .* one of: \['net', 'net.0'",
    ),
    "neuron method, no neuron": (
        IMAGE,
        {"methods": ["NeuronGradient"]},
        ValueError,
        r"'NeuronGradient' \(NeuronGradient\) explains one neuron .* needs `neuron_selector`",
    ),
    "DeepLiftShap, one constant baseline": (
        IMAGE,
        {"methods": {"DeepLiftShap": {"baselines": 0.0}}},
        ValueError,
        r"DeepLiftShap\): needs a distribution of at least 2 baselines, `baselines` 0.0 gives 1",
    ),
    "DeepLiftShap, one tensor baseline": (
        IMAGE,
        {"methods": {"DeepLiftShap": {"baselines": torch.zeros(1, 1, 8, 8)}}},
        ValueError,
        r"at least 2 baselines, `baselines` Tensor\(1, 1, 8, 8\) gives 1",
    ),
    "LayerDeepLiftShap, a callable giving one baseline": (
        IMAGE,
        {"methods": {"LayerDeepLiftShap": {"baselines": lambda x: x.mean(0)}}},
        ValueError,
        r"LayerDeepLiftShap\): needs a distribution of at least 2 baselines, .* callable gives 1",
    ),
    "NeuronDeepLiftShap, one uniform sample": (
        IMAGE,
        {
            "methods": {
                "NeuronDeepLiftShap": {
                    "neuron_selector": (0, 0, 0),
                    "baselines": {"kind": "uniform", "samples": 1},
                }
            }
        },
        ValueError,
        r"at least 2 baselines",
    ),
    "neuron index out of range": (
        IMAGE,
        {"methods": {"NeuronGradient": {"neuron_selector": (8, 0, 0)}}},
        ValueError,
        r"`neuron_selector` \(8, 0, 0\) is out of range for the output of `layer` 'net.conv2' "
        r"\(8, 6, 6\)",
    ),
    "neuron with too few indices": (
        IMAGE,
        {"methods": {"NeuronIntegratedGradients": {"neuron_selector": 3}}},
        ValueError,
        r"must give 3 index\(es\), one per dimension of the output of `layer` 'net.conv2' "
        r"\(8, 6, 6\) .* e.g. \(0, 0, 0\)",
    ),
    "neuron callable with a wrong shape": (
        TABULAR,
        {"methods": {"NeuronGradient": {"layer": "net.2", "neuron_selector": lambda out: out}}},
        ValueError,
        r"callable must return one value per sample \(2,\) from the output of `layer` 'net.2', "
        r"got \(2, 8\)",
    ),
    "neuron selector of a wrong type": (
        IMAGE,
        {"methods": {"NeuronGradient": {"neuron_selector": "3"}}},
        TypeError,
        r"`neuron_selector` must be an int, a tuple of ints/slices or a callable",
    ),
    "neuron selector on a method without neurons": (
        IMAGE,
        {"methods": {"Saliency": {"neuron_selector": 3}}},
        ValueError,
        r"'Saliency' \(Saliency\) takes no `neuron_selector`",
    ),
    "blurred baseline of tabular inputs": (
        TABULAR,
        {"methods": {"IntegratedGradients": {"baselines": "blur"}}},
        ValueError,
        r"`baselines` 'blur' needs inputs with spatial dimensions .* the probe is \(2, 10\)",
    ),
    "the probe as baseline of a single-baseline method": (
        IMAGE,
        {"methods": {"IntegratedGradients": {"baselines": "probe"}}},
        ValueError,
        r"`baselines` 'probe' is a distribution of baselines for the SHAP family",
    ),
    "unknown baseline kind": (
        IMAGE,
        {"methods": {"DeepLift": {"baselines": "gauss"}}},
        ValueError,
        r"`baselines` kind must be one of \['zeros', 'constant', 'uniform', 'blur', 'mean'",
    ),
    "Grad-CAM on tabular inputs": (
        TABULAR,
        {"methods": {"GuidedGradCam": {"layer": "net.2"}}},
        ValueError,
        r"'GuidedGradCam' \(GuidedGradCam\) needs inputs with spatial dimensions",
    ),
    "Grad-CAM++ on a Linear layer": (
        IMAGE,
        {"methods": {"GradCamPlusPlus": {"layer": "net.fc"}}},
        ValueError,
        r"`layer` 'net.fc' outputs shape \(2, 10\), without spatial dimensions",
    ),
    "FeaturePermutation with one probe": (
        IMAGE,
        {"methods": ["FeaturePermutation"], "num_probes": 1},
        ValueError,
        r"FeaturePermutation\) compares the probe samples .* `num_probes` >= 2, got 1",
    ),
    "feature names of the wrong length": (
        TABULAR,
        {"methods": ["Saliency"], "feature_names": ["age", "sex"]},
        ValueError,
        r"`feature_names` must name the 10 input features, got 2 names",
    ),
    "feature names for images": (
        IMAGE,
        {"methods": ["Saliency"], "feature_names": ["a"]},
        ValueError,
        r"`feature_names` names the columns of tabular inputs \[N, F\]; the probe is "
        r"\(2, 1, 8, 8\)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_missing_or_wrong_requirement_fails_before_the_first_training_step(
    tmp_path: Path, case: str
) -> None:
    kind, kwargs, error, match = CASES[case]
    kwargs = {"num_probes": 2, "target": None if kind == TABULAR else "pred", **kwargs}
    model = LitRegressor() if kind == TABULAR else LitClassifier()
    data = DiabetesData() if kind == TABULAR else DigitsData()
    with pytest.raises(error, match=match):
        # Argument errors raise here, model errors in `setup`, probe-shape errors in
        # `on_train_start` (the probe's first moment): all before the first training step.
        monitor = AttributionMonitor(**kwargs)
        make_trainer(tmp_path, [monitor], num_sanity_val_steps=0).fit(model, datamodule=data)
    assert model.global_step == 0
