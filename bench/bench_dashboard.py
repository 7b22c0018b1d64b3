"""The XAI tab in a real browser: time to the first grid and to redraw after an epoch change.

    python -m bench.bench_dashboard [--log-dir DIR] [--epochs 50] [--probes 16] [--moves 30]

Generates (once, reused when DIR already holds it) a real fit of seed 000's ConvNet on
scikit-learn's digits with AttributionMonitor over 4 methods and 16 probes for 50 epochs
(2 training batches per epoch), then serves DIR with the ``tensorboard`` CLI
(``--samples_per_plugin images=3``) and drives headless Chromium:

- first grid: TensorBoard open on its default tab, from the click on the XAI tab until the
  first grid (16 panels) is on screen; then the 16 x 4 attribution grid;
- epoch change: the slider moved to a random epoch, until the new pictures are on screen
  (two animation frames after the swap, measured in the page); "cold" is the first move,
  to the farthest epoch, right after the first grid; "warm" once every epoch is loaded;
- the static report of the same run: size and time to its first grid from disk.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from bench.timing import machine
from example_trainers.pictures.dashboard_view import browser, click_xai_tab, wait_for
from example_trainers.pictures.tensorboard_view import serve

METHODS = ["IntegratedGradients", "Saliency", "InputXGradient", "GuidedBackprop"]


def generate(log_dir: Path, epochs: int, probes: int) -> None:
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import TensorBoardLogger

    from example_trainers.data import DigitsDataModule
    from example_trainers.models import Classifier, ConvNet
    from lightning_xai import AttributionMonitor

    pl.seed_everything(0, verbose=False)
    data = DigitsDataModule()
    data.setup()
    monitor = AttributionMonitor(
        methods=METHODS, num_probes=probes, denormalize=([data.mean], [data.std])
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=TensorBoardLogger(str(log_dir), name="digits"),
        callbacks=[monitor],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Classifier(ConvNet()), datamodule=data)


def _move(driver, pos: int) -> float:  # type: ignore[no-untyped-def]
    """Moves the slider to ``pos``; the page's redraw time in ms."""
    before = driver.execute_script("return +document.body.dataset.redraws")
    driver.execute_script(
        "const e = document.getElementById('epoch'); e.value = arguments[0];"
        "e.dispatchEvent(new Event('input'));",
        pos,
    )
    wait_for(lambda: driver.execute_script("return +document.body.dataset.redraws") > before)
    return float(driver.execute_script("return window.xaiRedrawMs"))


def _choose_grid(driver, name: str) -> float:  # type: ignore[no-untyped-def]
    before = driver.execute_script("return +document.body.dataset.redraws")
    start = time.perf_counter()
    driver.execute_script(
        "const s = document.getElementById('grid-select'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));",
        name,
    )
    wait_for(lambda: driver.execute_script("return +document.body.dataset.redraws") > before)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log-dir", default="/tmp/xai_bench_dashboard")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--probes", type=int, default=16)
    parser.add_argument("--moves", type=int, default=30)
    args = parser.parse_args(argv)
    log_dir = Path(args.log_dir)
    if not list(log_dir.rglob("events.out.tfevents.*")):
        start = time.perf_counter()
        generate(log_dir, args.epochs, args.probes)
        print(f"generated {log_dir} in {time.perf_counter() - start:.0f} s")
    print(machine())
    rng = random.Random(0)
    with serve(log_dir, args=["--samples_per_plugin", "images=3"]) as url, browser() as driver:
        first = click_xai_tab(driver, url, timeout=120)
        cells = driver.execute_script("return document.querySelectorAll('#grid img').length")
        n = int(driver.find_element("id", "epoch").get_attribute("max")) + 1
        print(f"first grid ({cells} panels, {n} epochs): {first:.2f} s from the click on the "
              f"XAI tab")  # fmt: skip
        cold = _move(driver, 0)
        print(f"cold epoch change (last -> first, right after the first grid): {cold:.0f} ms")
        seconds = _choose_grid(driver, "attributions")
        cells = driver.execute_script("return document.querySelectorAll('#grid img').length")
        print(f"attributions grid ({cells} cells) drawn {seconds:.2f} s after choosing it")
        wait_for(lambda: driver.execute_script("return document.body.dataset.preloaded"), 300)
        warm = [_move(driver, rng.randrange(n)) for _ in range(args.moves)]
        print(f"warm epoch change, {args.moves} random moves: median {statistics.median(warm):.0f}"
              f" ms, max {max(warm):.0f} ms")  # fmt: skip
    from lightning_xai.report import write_report

    (page,) = write_report(log_dir / "digits" / "version_0", log_dir / "report")
    with browser() as driver:
        start = time.perf_counter()
        driver.get(page.as_uri())
        wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), 120)
        print(f"report {page.stat().st_size / 1e6:.1f} MB: first grid from disk in "
              f"{time.perf_counter() - start:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
