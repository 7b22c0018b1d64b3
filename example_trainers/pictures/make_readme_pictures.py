"""Makes the README's pictures from a demo run's event files.

python -m example_trainers.digits --log-dir /tmp/xai_demo
python -m example_trainers.pictures.make_readme_pictures /tmp/xai_demo/digits/version_0
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from lightning_xai.report import read_logs
from lightning_xai.tags import parse_tag

HERE = Path(__file__).parent
_GAP = 2


def filmstrip(samples: dict[int, dict[int, np.ndarray]]) -> np.ndarray:
    """Rows: samples; columns: steps; white gaps; a missing picture stays white."""
    steps = sorted({s for by_step in samples.values() for s in by_step})
    height = max(p.shape[0] for by_step in samples.values() for p in by_step.values())
    width = max(p.shape[1] for by_step in samples.values() for p in by_step.values())
    canvas = np.full(
        (len(samples) * (height + _GAP) - _GAP, len(steps) * (width + _GAP) - _GAP, 3),
        255,
        np.uint8,
    )
    for r, k in enumerate(sorted(samples)):
        for c, step in enumerate(steps):
            picture = samples[k].get(step)
            if picture is not None:
                y, x = r * (height + _GAP), c * (width + _GAP)
                canvas[y : y + picture.shape[0], x : x + picture.shape[1]] = picture[..., :3]
    return canvas


def main(log_dir: str) -> None:
    images, _ = read_logs(Path(log_dir))
    # The panel of one probe sample after the first and after the last epoch: the slider's ends.
    panels = images["xai/panels/sample_03"]
    first, last = min(panels), max(panels)
    Image.fromarray(np.concatenate([panels[first], panels[last]])).save(HERE / "digits_panel.png")
    # IntegratedGradients on four samples at every validation step: the evolution.
    samples = {}
    for tag, by_step in images.items():
        parsed = parse_tag(tag)
        if parsed and parsed[0] == "attribution" and parsed[1]["method"] == "integrated_gradients":
            samples[int(parsed[1]["k"])] = by_step
    strip = filmstrip({k: samples[k] for k in range(4)})
    Image.fromarray(strip).save(HERE / "digits_evolution.png")


if __name__ == "__main__":
    main(sys.argv[1])
