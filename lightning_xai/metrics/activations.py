"""Health of convolutional layers: dead channels, sparsity, activity, weight norms.

Pure functions on tensors. Activations are ``[N, C, ...]`` (samples, channels, then any
spatial dimensions: ``[N, C, L]`` for Conv1d, ``[N, C, H, W]`` for Conv2d); every scalar is
computed over the whole batch, so pass the whole probe at once.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "channel_activity",
    "dead_channel_fraction",
    "mean_activation",
    "sparsity",
    "weight_norm",
]


def _check_activations(activations: Tensor, name: str) -> None:
    if not isinstance(activations, Tensor):
        raise TypeError(
            f"{name}: `activations` must be a Tensor, got {type(activations).__name__}."
        )
    if activations.ndim < 2 or activations.numel() == 0:
        raise ValueError(
            f"{name}: `activations` must be a non-empty [N, C, ...] tensor, got shape "
            f"{tuple(activations.shape)}."
        )


def _per_channel(activations: Tensor) -> Tensor:
    """``[N, C, ...]`` -> ``[C, N * prod(...)]``."""
    return activations.detach().transpose(0, 1).reshape(activations.shape[1], -1)


def dead_channel_fraction(activations: Tensor, eps: float = 0.0) -> Tensor:
    """Fraction of channels whose activation is zero for every sample and position.

    Args:
        activations: ``[N, C, ...]``.
        eps: a value with ``|x| <= eps`` counts as zero.

    Returns:
        0-dim float tensor in [0, 1]: dead channels / ``C``.

    Example:
        >>> acts = torch.ones(2, 4, 3, 3)
        >>> acts[:, 1] = 0
        >>> dead_channel_fraction(acts)
        tensor(0.2500)
    """
    _check_activations(activations, "dead_channel_fraction")
    dead = (_per_channel(activations).abs() <= eps).all(dim=1)
    return dead.float().mean()


def sparsity(activations: Tensor, eps: float = 0.0) -> Tensor:
    """Fraction of activation values that are zero (``|x| <= eps``).

    Args:
        activations: ``[N, C, ...]``.
        eps: tolerance for zero.

    Returns:
        0-dim float tensor in [0, 1].

    Example:
        >>> sparsity(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
        tensor(0.5000)
    """
    _check_activations(activations, "sparsity")
    return (activations.detach().abs() <= eps).float().mean()


def mean_activation(activations: Tensor) -> Tensor:
    """Mean activation value over samples, channels and positions.

    Args:
        activations: ``[N, C, ...]``.

    Returns:
        0-dim float tensor.

    Example:
        >>> mean_activation(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
        tensor(1.)
    """
    _check_activations(activations, "mean_activation")
    return activations.detach().float().mean()


def channel_activity(activations: Tensor) -> Tensor:
    """Mean absolute activation per channel: how active each channel is on the batch.

    Args:
        activations: ``[N, C, ...]``.

    Returns:
        ``[C]`` float tensor, zero exactly for dead channels.

    Example:
        >>> channel_activity(torch.tensor([[[1.0, -3.0], [0.0, 0.0]]]))
        tensor([2., 0.])
    """
    _check_activations(activations, "channel_activity")
    return _per_channel(activations).float().abs().mean(dim=1)


def weight_norm(weight: Tensor) -> Tensor:
    """L2 (Frobenius) norm of a layer's weight.

    Args:
        weight: any shape, e.g. a Conv2d kernel ``[C_out, C_in / groups, kH, kW]``.

    Returns:
        0-dim float tensor.

    Example:
        >>> weight_norm(torch.tensor([[3.0, 4.0]]))
        tensor(5.)
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight_norm: `weight` must be a Tensor, got {type(weight).__name__}.")
    return torch.linalg.vector_norm(weight.detach().float())
