"""Token pictures: labels, strips, tables, per-token scores and the AttributionMonitor branch."""

from __future__ import annotations

import pytest
import torch

from lightning_xai import AttributionMonitor
from lightning_xai.figures.tokens import log_token_attributions, token_scores
from lightning_xai.render.tokens import token_labels, token_strip, token_table
from lightning_xai.sinks import FileSink
from lightning_xai.token_text import TokenText


def test_labels_strip_and_table() -> None:
    assert token_labels(torch.tensor([1, 5]), {1: "[CLS]"}) == ["[CLS]", "5"]
    strip = token_strip(["good", "bad"], torch.tensor([1.0, -1.0]), title="#0")
    assert strip.shape[0] == 3 and strip.min() >= 0 and strip.max() <= 1
    green, red = strip[:, 20, 4], strip[:, 20, -4]  # inside the first and last token
    assert green[1] > green[0] and red[0] > red[1]
    wrapped = token_strip(["word"] * 40, torch.zeros(40), max_width=100)
    assert wrapped.shape[2] <= 100 and wrapped.shape[1] > 5 * 12
    assert "| &lt;pad&gt; | -2.500e-01 | -1.000 |" in token_table(["<pad>"], torch.tensor([-0.25]))
    # small values are told apart (3 decimals showed +0.000 for both)
    table = token_table(["a", "b", "c"], torch.tensor([3e-4, 1e-4, 0.0]), [True, False, False])
    assert "| *a* | +3.000e-04 | +1.000 |" in table and "| b | +1.000e-04 | +0.333 |" in table
    with pytest.raises(ValueError, match="one entry per token"):
        token_strip(["a"], torch.zeros(2))


def test_scores_sum_the_embedding_dimension_and_padding_is_left_out(tmp_path) -> None:
    ids = torch.tensor([[1, 4, 5, 0], [1, 6, 0, 0]])
    attribution = torch.ones(2, 4, 3)
    torch.testing.assert_close(token_scores(attribution, ids), torch.full((2, 4), 3.0))
    assert token_scores(torch.ones(2, 7), ids) is None
    sink = FileSink(tmp_path)
    skipped = log_token_attributions(
        sink, 3, ids, {"LIG": attribution, "odd": torch.ones(2, 7)}, {"LIG": "lig", "odd": "odd"},
        ["#0", "#1"], TokenText(vocabulary=["<pad>", "[CLS]", "x", "y", "a", "b", "c"], pad_id=0),
    )  # fmt: skip
    sink.flush()
    assert skipped == ["odd"]
    assert (tmp_path / "images" / "xai/tokens/lig/sample_01" / "step_000003.png").exists()
    records = (tmp_path / "scalars.jsonl").read_text()
    assert "| b |" in records and "pad" not in records


def test_attribution_monitor_checks_the_vocabulary() -> None:
    with pytest.raises(TypeError, match="AttributionMonitor: `vocabulary`"):
        AttributionMonitor(vocabulary=[1, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="AttributionMonitor: `pad_id`"):
        AttributionMonitor(pad_id="0")  # type: ignore[arg-type]
