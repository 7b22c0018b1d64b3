"""Model-parameter randomisation check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation that still looks the same after the model's top layer was re-initialised does
not explain the model. :func:`randomized_copy` makes the re-initialised twin without touching
the original model or the global RNG; :func:`randomization` scores the similarity.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from lightning_xai.metrics.similarity import spearman

__all__ = ["randomization", "randomized_copy", "top_layer"]


def randomization(attributions: Tensor, randomized_attributions: Tensor) -> Tensor:
    """Spearman rank correlation of ``|attribution|`` between the model and its randomised twin.

    Args:
        attributions: ``[N, ...]`` of the trained model.
        randomized_attributions: ``[N, ...]`` of :func:`randomized_copy`, same targets.

    Returns:
        ``[N]`` in ``[-1, 1]``; lower is better (the explanation depends on the weights).
    """
    return spearman(attributions.abs(), randomized_attributions.abs())


def top_layer(model: nn.Module) -> str:
    """Dotted name of the last module (registration order) that owns parameters.

    Raises:
        ValueError: the model has no parameters.
    """
    owners = [
        n for n, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None
    ]
    if not owners:
        raise ValueError(f"randomization: {type(model).__name__} has no parameters to randomise.")
    return owners[-1]


def randomized_copy(model: nn.Module, layer: str | None = None, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with the parameters of ``layer`` drawn afresh.

    Weights are drawn like PyTorch's default for ``Linear``/``Conv``: ``U(-b, b)``,
    ``b = 1 / sqrt(fan_in)`` (biases and other 1-D parameters use the weight's ``fan_in``),
    from a dedicated ``torch.Generator`` seeded with ``seed``: the global RNG is not consumed
    and ``model`` is only read.

    Args:
        model: the trained model (a ``LightningModule`` works: its trainer is not copied).
        layer: dotted module name; default :func:`top_layer`.
        seed: seed of the dedicated generator.

    Returns:
        The twin, in the original's train/eval mode, on the original's device.

    Raises:
        ValueError: ``layer`` is not a module of ``model`` or owns no parameters.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> twin = randomized_copy(net)
        >>> torch.equal(twin[0].weight, net[0].weight), torch.equal(twin[2].weight, net[2].weight)
        (True, False)
    """
    name = layer if layer is not None else top_layer(model)
    try:
        model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        raise ValueError(
            f"randomization: `layer` {name!r} is not a module of {type(model).__name__}. "
            f"Valid layers: {names[:40]}."
        ) from None
    twin = copy.deepcopy(model)
    target = twin.get_submodule(name)
    params = list(target.parameters(recurse=False))
    if not params:
        raise ValueError(f"randomization: `layer` {name!r} owns no parameters to randomise.")
    matrices = [p for p in params if p.ndim >= 2]
    fan_in = matrices[0][0].numel() if matrices else 1
    generators: dict[torch.device, torch.Generator] = {}
    with torch.no_grad():
        for p in params:
            device = p.device
            if device not in generators:
                generators[device] = torch.Generator(device=device).manual_seed(seed)
            own_fan_in = p[0].numel() if p.ndim >= 2 else fan_in
            bound = 1.0 / math.sqrt(max(own_fan_in, 1))
            fresh = torch.empty(p.shape, dtype=p.dtype, device=device)
            fresh.uniform_(-bound, bound, generator=generators[device])
            p.copy_(fresh)
    return twin
