"""The model zoo (tests/support/zoo.py): every core method on one torchvision classifier per family.

Each cell passes when the method logs a picture per probe sample or is refused before the
first step; the warnings must be exactly the ones that are right for the architecture. The
README's table is the output of ``python -m tests.support.zoo --readme``, the same run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.support.zoo import COLUMNS, ZOO, ZooModel, run_model

pytestmark = pytest.mark.slow

_RULES = {"DeepLift", "GuidedBackprop"}
# Which methods must warn, and why: DeepLift where a nonlinearity is neither one of Captum's
# supported modules nor reached through per-call copies (GELU, SiLU, Hardswish, ReLU6 modules;
# a functional F.relu); GuidedBackprop where the forward calls no nn.ReLU module or calls
# F.relu. The ResNets reuse one in-place ReLU: DeepLift works there through per-call copies.
EXPECTED_WARNINGS = {
    "ResNet": set(),
    "ResNeXt": set(),
    "Wide ResNet": set(),
    "DenseNet": _RULES,  # F.relu in DenseNet.forward
    "MobileNet v2": _RULES,  # ReLU6 only
    "MobileNet v3": {"DeepLift"},  # Hardswish, Hardsigmoid beside nn.ReLU
    "EfficientNet": _RULES,  # SiLU
    "EfficientNet v2": _RULES,  # SiLU
    "MNASNet": set(),
    "ShuffleNet v2": set(),
    "SqueezeNet": set(),
    "RegNet": set(),
    "ConvNeXt": _RULES,  # GELU
    "GoogLeNet": _RULES,  # F.relu in BasicConv2d
    "Inception v3": _RULES,  # F.relu in BasicConv2d, F.max_pool2d
    "AlexNet": set(),
    "Swin": _RULES,  # GELU, F.softmax
    "MaxViT": _RULES,  # GELU, SiLU, F.softmax
    "ViT": _RULES,  # GELU
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: on these shared 2-core machines, 2 threads made a DenseNet forward
    ~90x slower (OpenMP regions waiting on descheduled threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_expectations_cover_the_zoo() -> None:
    assert set(EXPECTED_WARNINGS) == {m.family for m in ZOO}


@pytest.mark.parametrize("model", ZOO, ids=lambda m: m.family)
def test_every_method_draws_or_warns_rightly(model: ZooModel, tmp_path: Path) -> None:
    run = run_model(model, tmp_path)
    statuses = {c: run.outcomes[c].status for c in COLUMNS}
    failed = {c: run.outcomes[c].messages for c in COLUMNS if statuses[c] in ("failed", "refused")}
    assert not failed
    warned = {c for c, s in statuses.items() if s == "warns"}
    assert warned == EXPECTED_WARNINGS[model.family], {c: run.outcomes[c].messages for c in warned}
    for column in warned:
        (message,) = run.outcomes[column].messages  # one warning per method
        items = re.findall(r"^  - (\S+ \S+ \S+)", message, flags=re.M)
        assert len(items) == len(set(items))  # one line per nonlinearity type at most
        if column == "DeepLift":
            assert items and "plain gradient" in message
        if column == "GuidedBackprop":
            assert "calls no nn.ReLU module" in message or "relu called in" in message
    # Grad-CAM drew a layer whose output is larger than 1x1 on the probe.
    assert run.cam_shape is not None and run.cam_shape[2] * run.cam_shape[3] > 1, run.cam_layer
