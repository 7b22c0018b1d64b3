"""Makes the README's pictures from a demo run's event files.

python -m example_trainers.digits --log-dir /tmp/xai_demo
python -m example_trainers.pictures.make_readme_pictures /tmp/xai_demo/digits/version_0
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from lightning_xai.report import by_method, filmstrip, read_logs

HERE = Path(__file__).parent


def main(log_dir: str) -> None:
    images, _ = read_logs(Path(log_dir))
    # The panel of one probe sample after the first and after the last epoch: the slider's ends.
    panels = images["xai/panels/sample_03"]
    first, last = min(panels), max(panels)
    Image.fromarray(np.concatenate([panels[first], panels[last]])).save(HERE / "digits_panel.png")
    # IntegratedGradients on four samples at every validation step: the evolution.
    samples = by_method(images)["integrated_gradients"]
    strip, _ = filmstrip({k: samples[k] for k in range(4)})
    Image.fromarray(strip).save(HERE / "digits_evolution.png")


if __name__ == "__main__":
    main(sys.argv[1])
