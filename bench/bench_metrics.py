"""Cost of each explanation-quality metric, and batched vs Captum's sensitivity_max.

Seed 000's ConvNet (example_trainers/models.py, random weights), a probe of 32 random
1x28x28 inputs, targets = predicted class, all in one process.

Metric costs: each metric with its defaults, through the registry's adapter as the monitor
calls it, against one attribution of the same method (library defaults: IG n_steps=50 with
internal_batch_size=64). Minimum over at least ``--repeats`` runs after a warm-up.

sensitivity_max (n_perturb_samples=10, perturb_radius=0.02, same seed for all):
  A  captum.metrics.sensitivity_max(IntegratedGradients(net).attribute, x, target=t): Captum's
     defaults, as the tutorials call it (IG unchunked: 16,000 rows in one forward);
  B  Captum's sensitivity_max with our explanation function (same chunking as D);
  C  Captum with max_examples_per_batch=N: one explanation call per perturbation;
  D  ours: the monitor's attribution reused, the 10 x N perturbed copies in one call.
The variants run interleaved, ``--repeats`` rounds; min and median are printed.

    python bench/bench_metrics.py [--repeats 3] [--probes 32] [--threads N]

Prints Markdown tables (the figures in bench/README.md come from this script)."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from time import perf_counter

import torch
from captum.attr import IntegratedGradients, Saliency
from captum.metrics import sensitivity_max as captum_sensitivity_max

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from example_trainers.models import ConvNet
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.metrics import (
    MetricContext,
    get_metric,
    list_metrics,
    sensitivity_max,
)

METHODS = {
    "IntegratedGradients": None,  # n_steps=50, internal_batch_size=64 (the library default)
    "Saliency": None,
    "LayerGradCam": {"layer": "cn2"},
}


def best(function: Callable[[], object], repeats: int, budget_s: float = 2.0) -> float:
    """Minimum wall time of ``function`` over at least ``repeats`` runs after one warm-up run,
    and more (up to 30) while the total stays under ``budget_s``: the minimum is the figure
    least disturbed by other work on a shared machine."""
    function()
    times: list[float] = []
    while len(times) < repeats or (sum(times) < budget_s and len(times) < 30):
        start = perf_counter()
        function()
        times.append(perf_counter() - start)
    return min(times)


def metric_costs(net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, repeats: int) -> str:
    rows = [
        "| method | one attribution (ms) | "
        + " | ".join(n for n in list_metrics() if n != "agreement")
        + " |",
    ]
    rows.append("|---" * (len(list_metrics()) + 1) + "|")
    attributions = {}
    for name, options in METHODS.items():
        method = ConfiguredMethod(name, options)
        method.bind(net)
        attribute = lambda m=method: m.to_input_space(m.attribute(x, target), x)  # noqa: E731
        base = best(attribute, repeats)
        attribution = attribute().detach()
        attributions[name] = attribution
        cells = [name, f"{base * 1e3:.0f}"]
        for metric in list_metrics():
            spec = get_metric(metric)
            if spec.cross_method:
                continue
            if spec.applies and spec.applies(method.spec):
                cells.append("n/a")
                continue
            ctx = MetricContext(net, method, x, target, attribution, previous=attribution)
            ctx.first = attribution
            options = dict(spec.defaults)
            if metric == "completeness":
                # what completeness adds: the delta asked for in the same call
                with_delta = best(lambda m=method: m.attribute_with_delta(x, target), repeats)
                cost = max(with_delta - base, 0.0)
            else:
                cost = best(lambda s=spec, c=ctx, o=options: s.compute(c, **o), repeats)
            cells.append(f"{cost * 1e3:.0f} ms ({cost / base:.2f}x)")
        rows.append("| " + " | ".join(cells) + " |")
    spec = get_metric("agreement")
    cost = best(lambda: spec.compute(attributions), repeats)
    rows.append(f"\nagreement over the {len(attributions)} methods: {cost * 1e3:.1f} ms")
    return "\n".join(rows)


def sensitivity_comparison(
    net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, repeats: int
) -> str:
    rows = [
        "| method | A: Captum, its defaults | B: Captum, our explain fn | "
        "C: Captum, one call per perturbation | D: ours, batched | A / D | B / D | "
        "max abs diff D vs A |",
        "|---|---|---|---|---|---|---|---|",
    ]
    n = x.shape[0]
    for name, captum_fn in (
        ("IntegratedGradients", IntegratedGradients(net).attribute),
        ("Saliency", Saliency(net).attribute),
    ):
        method = ConfiguredMethod(name)
        method.bind(net)
        ctx = MetricContext(net, method, x, target, method.attribute(x, target).detach())

        def tupled(inputs, target=None, c=ctx):  # Captum passes and expects tuples
            if isinstance(inputs, tuple):
                return (c.explain(inputs[0], target),)
            return c.explain(inputs, target)

        variants = {
            "defaults": lambda f=captum_fn: captum_sensitivity_max(f, x, target=target),
            "same_fn": lambda f=tupled: captum_sensitivity_max(f, x, target=target),
            "loop": lambda f=captum_fn: captum_sensitivity_max(
                f, x, target=target, max_examples_per_batch=n
            ),
            "ours": lambda c=ctx: sensitivity_max(c.explain, x, target, attributions=c.attribution),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        values: dict[str, torch.Tensor] = {}
        for run in variants.values():  # warm-up
            run()
        for _ in range(repeats):
            for key, run in variants.items():
                torch.manual_seed(0)
                start = perf_counter()
                values[key] = run()
                times[key].append(perf_counter() - start)
        t = {k: min(v) for k, v in times.items()}
        med = {k: statistics.median(v) for k, v in times.items()}
        diff = (values["ours"] - values["defaults"]).abs().max().item()
        rows.append(
            f"| {name} | {t['defaults']:.2f} ({med['defaults']:.2f}) | "
            f"{t['same_fn']:.2f} ({med['same_fn']:.2f}) | {t['loop']:.2f} ({med['loop']:.2f}) | "
            f"{t['ours']:.2f} ({med['ours']:.2f}) | {t['defaults'] / t['ours']:.2f}x "
            f"({med['defaults'] / med['ours']:.2f}x) | {t['same_fn'] / t['ours']:.2f}x | "
            f"{diff:.1e} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--skip-costs", action="store_true")
    parser.add_argument("--skip-sensitivity", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    net = ConvNet().eval()
    x = torch.randn(args.probes, 1, 28, 28)
    with torch.no_grad():
        target = net(x).argmax(1)
    print(
        f"{date.today()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()} | "
        f"torch {torch.__version__} | probes {args.probes} | repeats {args.repeats} | "
        f"load average at start {os.getloadavg()[0]:.2f}\n"
    )
    if not args.skip_costs:
        print("Metric cost, defaults, relative to one attribution of the same method:\n")
        print(metric_costs(net, x, target, args.repeats), "\n")
    if not args.skip_sensitivity:
        print(
            "sensitivity_max, n_perturb_samples=10, perturb_radius=0.02; seconds, min "
            "(median) over the rounds:\n"
        )
        print(sensitivity_comparison(net, x, target, args.repeats))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
