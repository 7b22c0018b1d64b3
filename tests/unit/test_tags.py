"""The tag table: every tag a full run writes is one of its kinds and is rebuilt by its builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_xai import (
    AttentionMonitor,
    AttributionMonitor,
    FeatureMapMonitor,
    MethodSpec,
    register_method,
)
from lightning_xai.tags import TAGS, chart_pattern, panel_tag, parse_tag
from tests.support.helpers import DigitsData, LitClassifier, TinyPatchNet, make_trainer, read_events


class _Broken:
    def __init__(self, model: object) -> None:
        pass

    def attribute(self, inputs: object, target: object = None) -> None:
        raise RuntimeError("broken on purpose")


def test_every_tag_of_a_full_run_parses_and_rebuilds(tmp_path: Path) -> None:
    register_method(MethodSpec("BrokenForTags", _Broken), overwrite=True)
    attributions = AttributionMonitor(
        methods={
            "IntegratedGradients": {"n_steps": 8},
            "Saliency": None,
            "LayerGradCam": {"layer": "net.patches"},
        },
        metrics={"sparseness": None, "drift": None, "agreement": None},
        max_seconds=1e-4,  # the second run is planned over budget: reduced knobs, a skip
        num_probes=2,
    )
    monitors = [
        attributions,
        AttributionMonitor(methods=["BrokenForTags"], num_probes=2),  # xai/errors/...
        FeatureMapMonitor(num_probes=2, samples=(0,)),
        AttentionMonitor(num_probes=2, samples=(0,)),
    ]
    with pytest.warns(RuntimeWarning, match="broken_for_tags failed"):
        make_trainer(tmp_path, monitors, max_epochs=3).fit(
            LitClassifier(TinyPatchNet()), datamodule=DigitsData(n_train=64, n_val=32)
        )
    events = read_events(tmp_path / "tb" / "version_0")
    written = {
        tag.removesuffix("/text_summary")
        for tags in events.Tags().values()
        if isinstance(tags, list)
        for tag in tags
    }
    ours = sorted(tag for tag in written if tag.startswith("xai/"))
    kinds = set()
    for tag in ours:
        parsed = parse_tag(tag)
        assert parsed is not None, tag
        kind, fields = parsed
        assert TAGS[kind](**fields) == tag
        kinds.add(kind)
    expected = {
        "attribution", "panel", "time", "metric", "metric_per_sample", "metric_time", "budget",
        "budget_knob", "epoch", "error", "attention", "attention_cls", "attention_entropy",
        "filters", "feature_map", "health", "histogram",
    }  # fmt: skip
    assert expected <= kinds, expected - kinds
    assert "xai/metrics/drift_spearman_first/saliency" in ours
    assert "xai/metrics/agreement/integrated_gradients_vs_saliency" in ours


def test_builders_parser_and_patterns_agree() -> None:
    assert panel_tag(3) == "xai/panels/sample_03"
    assert panel_tag(3, "table") == "xai/panels/table/sample_03"
    assert parse_tag("xai/attributions/ig/table/sample_01") == (
        "attribution",
        {"method": "ig/table", "k": 1},
    )
    assert parse_tag("xai/attributions/ig/mean_abs") == ("attribution_mean_abs", {"method": "ig"})
    assert parse_tag("val_loss") is None
    assert chart_pattern("time", method="[^/]+") == "xai/time/[^/]+$"

