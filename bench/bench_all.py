"""Every figure of issue 18 in one run: as the machine is, then with a busy competitor.

    python -m bench.bench_all [--repeats 3] [--resnet] [--phases quiet busy]

Each phase prints the same figures; the competitor of the "busy" phase is one process
spinning on a core, started in its own session (``setsid``: the kernel's autogroups would
otherwise give it only a share of the CPU) and stopped when the phase ends. "quiet" means
"without our competitor": the load average printed next to each phase says what else ran.

Figures (candidates of one figure run interleaved in one process; times are medians, ratios
the median of the ratios of the two candidates in each round; bench/timing.py):

1. IntegratedGradients, seed ConvNet, 32 probes 1x28x28, 50 steps: the monitor's call
   (``ConfiguredMethod``: threads and chunks chosen in the run) against Captum's default
   call and against every (threads x rows per pass) setting of Captum's call.
   Targets: monitor <= Captum's default; monitor <= 1.25x the best setting.
2. Each method (IG, GradientShap, NoiseTunnel(Saliency), Occlusion, LayerConductance) the
   monitor's way against its floor (bare passes at the best chunk, at 1 or all threads) and
   Captum's default (bench/bench_methods.py's cases; ResNet-18 with ``--resnet``); the note
   gives the monitor's thread count, monitor / the floor in the monitor's own pass sizes
   (what the call adds to its passes) and the time to build the floor's rows (work the
   floor does before its clock).
3. Cost against pixels: one monitor run's work (bench/bench_scaling.py: IG, Saliency,
   LayerGradCam and the pictures) on 16 probes of 28, 112 and 224 px; "x linear" is
   (cost ratio) / (pixel ratio) against 28 px.
4. Training step speed after a monitor run against before it (pairs of 30 steps around
   one IG call), mean of the paired ratios and their spread.

The whole-fit overhead is ``python -m bench.bench_overhead --repeats 5`` (minutes per fit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from captum.attr import IntegratedGradients
from torch import nn

from bench import bench_methods as bm
from bench.bench_scaling import SizeFreeNet, bound, monitor_run
from bench.timing import compare, machine, paired_ratio, timed
from example_trainers.models import ConvNet
from lightning_xai.methods import ConfiguredMethod

Figure = tuple[str, str, str]  # (figure, value, target / note)


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


_SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"


@contextmanager
def competitor(busy: bool) -> Iterator[None]:
    """One busy process in its own session while the block runs (nothing if not ``busy``)."""
    if not busy:
        yield
        return
    # It spins while its parent lives: a benchmark killed hard leaves no spinner behind.
    spin = subprocess.Popen(
        [sys.executable, "-c", _SPIN],
        start_new_session=True,
    )  # setsid: a session of its own, as any other program would run
    time.sleep(1.0)
    try:
        yield
    finally:
        spin.terminate()
        spin.wait()


def at_threads(threads: int, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with ``threads`` intra-op threads, the caller's count restored."""

    def run() -> object:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return run


def ig_settings(repeats: int) -> list[Figure]:
    """Figure 1: the monitor against Captum's default and every threads x rows setting."""
    case = bm.convnet_case(repeats)
    ig = IntegratedGradients(case.model)
    all_threads = torch.get_num_threads()
    settings: dict[str, Callable[[], object]] = {}
    for threads in sorted({1, all_threads}):
        for rows in (32, 128, 512, None):
            name = f"{threads} thr x {rows or 'all'} rows"
            call = lambda rows=rows: ig.attribute(  # noqa: E731
                case.x, target=case.target, n_steps=bm.N_STEPS, internal_batch_size=rows
            )
            settings[name] = at_threads(threads, call)
    samples = timed({"monitor": bm.monitor_call(case, "IntegratedGradients"), **settings},
                    repeats=repeats)  # fmt: skip
    times = {k: statistics.median(v) for k, v in samples.items()}
    captum = f"{all_threads} thr x all rows"
    best = min((k for k in times if k != "monitor"), key=times.get)
    monitor = times["monitor"]
    grid = ", ".join(f"{k}: {v * 1e3:.0f}" for k, v in times.items() if k != "monitor")
    return [
        ("IG ConvNet: monitor ms", f"{monitor * 1e3:.0f}", f"settings (ms): {grid}"),
        ("IG ConvNet: Captum default / monitor",
         f"{paired_ratio(samples, captum, 'monitor'):.2f}x", ">= 1.0"),
        ("IG ConvNet: monitor / best setting", f"{paired_ratio(samples, 'monitor', best):.2f}x",
         f"<= 1.25 ({best})"),
    ]  # fmt: skip


def methods(repeats: int, resnet: bool) -> list[Figure]:
    """Figure 2: monitor / floor and Captum / monitor per method; monitor / the floor in the
    monitor's own passes (at the thread count the monitor ran), the overhead alone."""
    figures: list[Figure] = []
    cases = [bm.convnet_case(repeats)] + ([bm.resnet_case(max(2, repeats - 1))] if resnet else [])
    for case in cases:
        for method in bm.METHODS:
            every = bm.candidates(case, method)
            floors = {k: fn for k, fn in every.items() if k.startswith(("floor", "same"))}
            one = {f"{k} 1thr": at_threads(1, fn) for k, fn in floors.items()}
            samples = timed({**every, **one}, repeats=case.repeats)
            times = {k: statistics.median(v) for k, v in samples.items()}
            floor_key = min((k for k in times if k.startswith("floor")), key=times.get)
            name = f"{case.name.split(',')[0]} {method}"
            monitor, threads = times["monitor"], bm.monitor_threads(case)
            same = "same passes" + (" 1thr" if threads == "1" else "")
            overhead = f"{paired_ratio(samples, 'monitor', same):.2f}x" if same in times else "-"
            figures.append((
                f"{name}: monitor / floor", f"{paired_ratio(samples, 'monitor', floor_key):.2f}x",
                f"<= 1.10 (floor {times[floor_key] * 1e3:.0f} ms, {floor_key}; "
                f"monitor {monitor * 1e3:.0f} ms at {threads} thr; monitor / same passes "
                f"{overhead}; building the rows {times['build rows'] * 1e3:.1f} ms)",
            ))  # fmt: skip
            figures.append((f"{name}: Captum default / monitor",
                            f"{paired_ratio(samples, 'captum', 'monitor'):.2f}x",
                            ">= 1.0"))  # fmt: skip
    return figures


def scaling(repeats: int) -> list[Figure]:
    """Figure 3: one monitor run's work at 28, 112 and 224 px."""
    torch.manual_seed(0)
    net = SizeFreeNet().eval()
    sized = bound(net, ("IntegratedGradients", "Saliency", "LayerGradCam"))
    inputs = {s: torch.randn(16, 1, s, s) for s in (28, 112, 224)}
    times = compare({s: (lambda x=x: monitor_run(net, x, sized)) for s, x in inputs.items()},
                    repeats=repeats)  # fmt: skip
    figures = []
    for side, seconds in times.items():
        linear = (seconds / times[28]) / (side / 28) ** 2
        note = "<= 1.3" if side > 28 else "reference"
        figures.append((f"monitor run 16 x {side} px: ms, x linear",
                        f"{seconds * 1e3:.0f}, {linear:.2f}x", note))  # fmt: skip
    return figures


def step_speed(pairs: int) -> list[Figure]:
    """Figure 4: training steps after a monitor run against before it."""
    torch.manual_seed(0)
    net = ConvNet()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    data = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    method = ConfiguredMethod("IntegratedGradients")
    method.bind(net)
    probe = torch.randn(32, 1, 28, 28)

    def steps(count: int = 30) -> float:
        net.train()
        start = time.perf_counter()
        for _ in range(count):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(data[0]), data[1]).backward()
            optimizer.step()
        return time.perf_counter() - start

    def monitor() -> None:
        net.eval()
        with torch.no_grad():
            target = net(probe).argmax(1)
        method.attribute(probe, target)

    steps()
    ratios, threads = [], torch.get_num_threads()
    for _ in range(pairs):
        before = steps()
        monitor()
        ratios.append(steps() / before)
    spread = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
    return [(
        "training steps after / before a monitor run",
        f"{statistics.mean(ratios):.3f} +- {spread:.3f}",
        f"1.0 (mean +- sd of {pairs} pairs; threads {threads} -> {torch.get_num_threads()})",
    )]  # fmt: skip


def phase(busy: bool, args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    with competitor(busy):
        figures.append(("load average at start", load(), ""))
        for name, run in (
            ("ig", lambda: ig_settings(args.repeats)),
            ("steps", lambda: step_speed(args.pairs)),
            ("scaling", lambda: scaling(max(2, args.repeats - 1))),
            ("methods", lambda: methods(args.repeats, args.resnet)),
        ):
            if name in args.figures:
                start = time.perf_counter()
                got = run()
                for figure in got:
                    print(f"  [{'busy' if busy else 'quiet'}] {' | '.join(figure)}", flush=True)
                figures += got
                print(f"  ({name}: {time.perf_counter() - start:.0f} s, load {load()})", flush=True)
        figures.append(("load average at end", load(), ""))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=5, help="pairs for the step-speed figure")
    parser.add_argument("--resnet", action="store_true", help="also ResNet-18 in figure 2")
    parser.add_argument("--phases", nargs="+", default=["quiet", "busy"], choices=["quiet", "busy"])
    parser.add_argument("--figures", nargs="+", default=["ig", "steps", "scaling", "methods"],
                        choices=["ig", "steps", "scaling", "methods"])  # fmt: skip
    args = parser.parse_args()
    print(f"# {machine()}; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC')}")
    results = {p: phase(p == "busy", args) for p in args.phases}
    rows = [name for name, _, _ in next(iter(results.values()))]
    notes = {name: note for figures in results.values() for name, _, note in figures}
    print(f"\n| figure | {' | '.join(args.phases)} | target / note |")
    print("|---|" + "---|" * len(args.phases) + "---|")
    for i, name in enumerate(rows):
        values = " | ".join(results[p][i][1] for p in args.phases)
        print(f"| {name} | {values} | {notes[name]} |")


if __name__ == "__main__":
    main()
