"""Makes the README's pictures from a demo run's event files.

python -m example_trainers.digits --log-dir /tmp/xai_demo
python -m example_trainers.pictures.make_readme_pictures /tmp/xai_demo/digits/version_0
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea

HERE = Path(__file__).parent


def main(log_dir: str) -> None:
    events = ea.EventAccumulator(log_dir, size_guidance=ea.STORE_EVERYTHING_SIZE_GUIDANCE)
    events.Reload()
    # The panel of one probe sample after the first and after the last epoch: the slider's ends.
    panels = events.Images("xai/panels/sample_03")
    pictures = [_decode(panels[0].encoded_image_string), _decode(panels[-1].encoded_image_string)]
    Image.fromarray(np.concatenate(pictures, axis=0)).save(HERE / "digits_panel.png")
    # One method's picture of four samples at every validation step: the evolution.
    rows = []
    for k in range(4):
        series = events.Images(f"xai/attributions/integrated_gradients/sample_{k:02d}")
        frames = [_decode(e.encoded_image_string) for e in series]
        gap = np.full((frames[0].shape[0], 2, 3), 255, np.uint8)
        rows.append(np.concatenate([x for f in frames for x in (f, gap)][:-1], axis=1))
    gap = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    strip = np.concatenate([x for r in rows for x in (r, gap)][:-1], axis=0)
    Image.fromarray(strip).save(HERE / "digits_evolution.png")


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


if __name__ == "__main__":
    main(sys.argv[1])
