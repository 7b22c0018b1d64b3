"""Captum's input gradients with one autograd root instead of one per row."""

from __future__ import annotations

from typing import Any

import torch
from captum._utils.common import _run_forward
from captum._utils.gradient import compute_gradients
from torch import Tensor

__all__ = ["summed_gradients", "use_summed_gradients"]


def summed_gradients(
    forward_fn: Any,
    inputs: Tensor | tuple[Tensor, ...],
    target_ind: Any = None,
    additional_forward_args: Any = None,
) -> tuple[Tensor, ...]:
    """Captum's ``compute_gradients`` with ``sum()`` as the root: the same tensors.

    Captum asks autograd for the gradient of each selected output row
    (``grad(unbind(outputs), inputs)``: one root and one ones-tensor per row, and a stack of
    them in the backward); autograd adds the rows' contributions either way, so the gradient
    of their sum is the same, to the bit, with one root.

    Example:
        >>> net = torch.nn.Linear(3, 2)
        >>> x = torch.randn(4, 3, requires_grad=True)
        >>> ours = summed_gradients(net, (x,), 1)
        >>> theirs = compute_gradients(net, (x,), 1)
        >>> torch.equal(ours[0], theirs[0])
        True
    """
    with torch.autograd.set_grad_enabled(True):
        outputs = _run_forward(forward_fn, inputs, target_ind, additional_forward_args)
        assert isinstance(outputs, Tensor)
        assert outputs[0].numel() == 1, (
            "Target not provided when necessary, cannot take gradient with respect to "
            "multiple outputs."
        )
        return torch.autograd.grad(outputs.sum(), inputs)


def use_summed_gradients(algorithm: Any) -> None:
    """Gives ``algorithm`` (a Captum gradient method) :func:`summed_gradients` where it uses
    Captum's ``compute_gradients``; other gradient functions are left as they are."""
    if getattr(algorithm, "gradient_func", None) is compute_gradients:
        algorithm.gradient_func = summed_gradients
