"""Writes lightning_xai/render/colormaps.json: matplotlib's colormaps sampled once.

Run from the repository root with matplotlib installed (a dev extra, never needed at run time):

    python tools/make_colormaps.py

Each map is its 256-entry lookup table (what ``matplotlib.colormaps[name](i)`` gives for
``i = 0..255``), RGB stored as 16-bit hex (4 digits a channel, error < 1e-5).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import Colormap, LinearSegmentedColormap

OUT = Path(__file__).resolve().parents[1] / "lightning_xai" / "render" / "colormaps.json"


def sources() -> dict[str, Colormap]:
    """The package's colormap names -> matplotlib's maps (``diverging``: Captum's)."""
    return {
        # captum.attr.visualization's map for signed attributions
        "diverging": LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"]),
        "greens": matplotlib.colormaps["Greens"],
        "reds": matplotlib.colormaps["Reds"],
        "blues": matplotlib.colormaps["Blues"],
        "gray": matplotlib.colormaps["gray"],
        "viridis": matplotlib.colormaps["viridis"],
    }


def table(cmap: Colormap) -> np.ndarray:
    """``[256, 3]`` float64: the map's lookup table."""
    return np.asarray(cmap.resampled(256)(np.arange(256)))[:, :3]


def encode(rgb: np.ndarray) -> str:
    codes = np.round(rgb.reshape(-1) * 65535).astype(np.int64)
    return "".join(f"{c:04x}" for c in codes)


def main() -> None:
    data = {
        "source": f"matplotlib {matplotlib.__version__}; diverging: Captum's RdWhGn",
        "maps": {name: encode(table(cmap)) for name, cmap in sources().items()},
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"Wrote {OUT}")


if __name__ == "__main__":
    main()
