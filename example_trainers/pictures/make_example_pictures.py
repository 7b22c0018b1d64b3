"""Makes the README's pictures of the text and attention trainers from their event files.

python -m example_trainers.text --log-dir /tmp/xai_examples
python -m example_trainers.attention --log-dir /tmp/xai_examples
python -m example_trainers.pictures.make_example_pictures /tmp/xai_examples
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from lightning_xai.report import read_logs

HERE = Path(__file__).parent
TEXT_LAYER = "net.encoder.layers.0.self_attn"
VIT_LAYER = "net.encoder.layers.1.self_attn"


def _last(images: dict[str, dict[int, np.ndarray]], tag: str) -> np.ndarray:
    steps = images[tag]
    return steps[max(steps)]


def _stack(pictures: list[np.ndarray]) -> np.ndarray:
    """Pictures one above the other, white-padded to the widest, 4 white rows apart."""
    width = max(p.shape[1] for p in pictures)
    rows = []
    for picture in pictures:
        pad = np.full((picture.shape[0], width - picture.shape[1], 3), 255, np.uint8)
        rows += [np.concatenate([picture, pad], axis=1), np.full((4, width, 3), 255, np.uint8)]
    return np.concatenate(rows[:-1])


def main(root: str) -> None:
    text, _ = read_logs(Path(root) / "text" / "version_0")
    tokens = "xai/tokens/layer_integrated_gradients"
    strips = [_last(text, f"{tokens}/sample_{k:02d}") for k in range(4)]
    Image.fromarray(_stack(strips)).save(HERE / "text_tokens.png")
    Image.fromarray(_last(text, f"xai/attention/{TEXT_LAYER}/sample_00")).save(
        HERE / "text_attention.png"
    )
    vit, _ = read_logs(Path(root) / "attention" / "version_0")
    Image.fromarray(_last(vit, f"xai/attention/{VIT_LAYER}/cls/sample_00")).save(
        HERE / "vit_cls_attention.png"
    )


if __name__ == "__main__":
    main(sys.argv[1])
