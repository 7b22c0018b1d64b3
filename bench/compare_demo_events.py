"""The digits demo's event files before and after the layout work (issue 13), compared.

    python bench/compare_demo_events.py [--old ad1b961] [--tree /tmp/i13_old]

Runs ``example_trainers.digits --smoke`` three times with this Python: in a worktree of the
old commit, here, and here with the old colour tables put back (``--old``'s
``render/colormaps.py`` and bar colours, patched in at run time). Then compares tags and
values: the same tags (the new code adds ``xai/epoch``), identical images when the old
colours are put back, and which images differ with matplotlib's colours. Scalars are compared
except the timings (``xai/time/...``).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea

HERE = Path(__file__).resolve().parents[1]
DEMO = "from example_trainers.digits import main; main(['--smoke', '--log-dir', {log!r}])"
# The old colours: the old render/colormaps.py loaded as a module and put in place of the new
# functions wherever they were imported; the bar charts' old red.
OLD_COLOURS = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("old_colormaps", {path!r})
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
import lightning_xai.render as render
for name in ("colormaps", "heatmap", "grid", "attention", "tokens"):
    module = sys.modules.get("lightning_xai.render." + name)
    for fn in ("apply_colormap", "colormap"):
        if module is not None and hasattr(module, fn):
            setattr(module, fn, getattr(old, fn))
import lightning_xai.render.bars as bars
bars._NEGATIVE = (0.75, 0.0, 0.0)
"""


def run_demo(tree: Path, log: Path, prelude: str = "") -> None:
    code = prelude + "\n" + DEMO.format(log=str(log))
    subprocess.run([sys.executable, "-c", code], cwd=tree, check=True, capture_output=True)


def read(log: Path) -> tuple[dict[str, dict[int, np.ndarray]], dict[str, dict[int, float]], set]:
    directory = next(p.parent for p in log.rglob("events.out.tfevents.*"))
    acc = ea.EventAccumulator(str(directory), size_guidance=ea.STORE_EVERYTHING_SIZE_GUIDANCE)
    acc.Reload()
    tags = acc.Tags()
    images = {
        t: {e.step: np.asarray(Image.open(io.BytesIO(e.encoded_image_string)).convert("RGB"))
            for e in acc.Images(t)}
        for t in tags["images"]
    }  # fmt: skip
    scalars = {t: {e.step: e.value for e in acc.Scalars(t)} for t in tags["scalars"]}
    everything = {(kind, t) for kind, names in tags.items() if isinstance(names, list)
                  for t in names}  # fmt: skip
    return images, scalars, everything


def compare(name: str, a: tuple, b: tuple) -> list[str]:
    (images_a, scalars_a, tags_a), (images_b, scalars_b, tags_b) = a, b
    lines = [f"== {name}"]
    lines.append(f"tags only in the first: {sorted(t for _, t in tags_a - tags_b)}")
    lines.append(f"tags only in the second: {sorted(t for _, t in tags_b - tags_a)}")
    same, differ = 0, []
    for tag in sorted(images_a.keys() & images_b.keys()):
        for step in sorted(images_a[tag].keys() | images_b[tag].keys()):
            x, y = images_a[tag].get(step), images_b[tag].get(step)
            if x is not None and y is not None and x.shape == y.shape and np.array_equal(x, y):
                same += 1
            else:
                diff = (
                    "shape"
                    if x is None or y is None or x.shape != y.shape
                    else int(np.abs(x.astype(int) - y.astype(int)).max())
                )
                differ.append(f"{tag}@{step} (max diff {diff})")
    lines.append(f"images identical: {same}; different: {len(differ)}")
    lines.extend(f"  {d}" for d in differ[:12])
    if len(differ) > 12:
        lines.append(f"  ... {len(differ) - 12} more")
    unequal = [
        t for t in sorted(scalars_a.keys() & scalars_b.keys())
        if not t.startswith("xai/time/") and t.startswith("xai/") and scalars_a[t] != scalars_b[t]
    ]  # fmt: skip
    lines.append(f"xai/ scalars (timings aside) that differ: {unequal}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", default="ad1b961", help="the commit before the layout work")
    parser.add_argument("--tree", default="/tmp/i13_old", help="where to check it out")
    args = parser.parse_args()
    tree = Path(args.tree)
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.old], cwd=HERE,
                       check=True, capture_output=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        old_colormaps = root / "old_colormaps.py"
        source = subprocess.run(
            ["git", "show", f"{args.old}:lightning_xai/render/colormaps.py"],
            cwd=HERE,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        old_colormaps.write_text(source)  # fmt: skip
        run_demo(tree, root / "old")
        run_demo(HERE, root / "new")
        run_demo(HERE, root / "new_old_colours", OLD_COLOURS.format(path=str(old_colormaps)))
        old, new, patched = (read(root / n) for n in ("old", "new", "new_old_colours"))
        report = [
            *compare(f"{args.old} vs this tree with the old colour tables", old, patched),
            *compare(f"{args.old} vs this tree (matplotlib's colour maps)", old, new),
        ]
    print("\n".join(report))


if __name__ == "__main__":
    main()
