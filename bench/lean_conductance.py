"""Where LayerConductance's time goes in the monitor, and what a lean batching would save.

    python -m bench.lean_conductance [--threads 1]

Not used by the library: a measurement for bench/README.md ("Each method against its floor").
Captum's ``LayerConductance.attribute(internal_batch_size=...)`` batches its n_steps + 1 points
so that consecutive batches share one point (``include_endpoint=True``): with s points per
pass it evaluates about (n_steps + 1) * s / (s - 1) points. It also keeps a clone of the
layer output, asks autograd for one gradient per row (``torch.unbind``) and concatenates the
scaled inputs per batch. ``lean`` below evaluates every point once (the last point of a batch
is kept for the next batch's first difference) with one ``sum()`` as the gradient root; it
gives the same attribution (checked against Captum with ``allclose``).

Since issue 18 the library's own LayerConductance (``lightning_xai/methods/conductance.py``)
is this prototype with Captum's whole option surface, and "monitor" below runs it.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from captum.attr import LayerConductance
from captum.attr._utils.approximation_methods import approximation_parameters
from torch import Tensor, nn

from bench.bench_methods import N_STEPS, Case, convnet_case, floor_candidates, resnet_case
from bench.timing import compare, machine
from lightning_xai.methods import ConfiguredMethod


def lean(model: nn.Module, layer: nn.Module, x: Tensor, target: Tensor, rows: int) -> Tensor:
    """LayerConductance from zero baselines, n_steps + 1 points, ``rows`` rows per pass, each
    point evaluated once."""
    _, alphas_func = approximation_parameters("gausslegendre")
    alphas = alphas_func(N_STEPS + 1)
    per_pass = max(1, rows // len(x))
    seen: list[Tensor] = []
    hook = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    total: Tensor | None = None
    last_eval = last_grad = None
    try:
        for start in range(0, len(alphas), per_pass):
            part = alphas[start : start + per_pass]
            scaled = torch.cat([a * x for a in part])
            seen.clear()
            out = model(scaled).gather(1, target.repeat(len(part))[:, None]).sum()
            (grad,) = torch.autograd.grad(out, seen[-1])
            evals = seen[-1].detach().unflatten(0, (len(part), len(x)))
            grads = grad.unflatten(0, (len(part), len(x)))
            step = (grads[:-1] * (evals[1:] - evals[:-1])).sum(0)
            if last_eval is not None:  # the difference across the batch boundary
                step = step + last_grad * (evals[0] - last_eval)
            total = step if total is None else total + step
            last_eval, last_grad = evals[-1], grads[-1]
    finally:
        hook.remove()
        seen.clear()
    assert total is not None
    return total


def run(case: Case, repeats: int) -> None:
    layer = case.model.get_submodule(case.layer)
    configured = ConfiguredMethod("LayerConductance", {"layer": case.layer})
    configured.bind(case.model)
    rows = configured.spec.default_chunk
    reference = LayerConductance(case.model, layer).attribute(case.x, target=case.target)
    mine = lean(case.model, layer, case.x, case.target, rows)
    same = torch.allclose(mine, reference, rtol=1e-4, atol=1e-6)
    floors = floor_candidates(case, "LayerConductance")
    candidates = {
        "monitor": lambda: configured.attribute(case.x, case.target),
        "lean": lambda: lean(case.model, layer, case.x, case.target, rows),
        **{k: floors[k] for k in ("floor 128", "floor 256") if k in floors},
    }
    times = compare(candidates, repeats=repeats)
    floor = min(v for k, v in times.items() if k.startswith("floor"))
    n = len(case.x)
    s = max(2, rows // n)
    points = N_STEPS + 1
    captum_points, done = 0, 0  # Captum's _batch_attribution: one shared point per batch
    while done < points:
        end = min(done + s, points)
        captum_points += end - done
        done = end - 1 if end < points else end
    print(
        f"{case.name}: {rows} rows per pass; Captum evaluates {captum_points} points of "
        f"{points} ({captum_points / points:.2f}x); lean == Captum: {same}"
    )
    print(
        "  "
        + "; ".join(f"{k}: {v * 1e3:.0f} ms ({v / floor:.2f}x floor)" for k, v in times.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# {machine()}; {time.strftime('%Y-%m-%d %H:%M')}; load {os.getloadavg()}")
    run(convnet_case(9), 9)
    run(resnet_case(3), 3)
    print(f"# load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
