"""The guard: makes autograd available in any Lightning hook and leaves training untouched."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import numpy as np
import torch
from torch import nn

__all__ = ["attribution_guard"]

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
)


@contextmanager
def attribution_guard(module: nn.Module, grad: bool = True) -> Iterator[nn.Module]:
    """Runs the body with ``module`` ready for attribution and restores everything after.

    Inside: inference mode off, grad on (or off with ``grad=False``), autocast off (float32
    attribution under mixed precision), deterministic algorithms (if the Trainer asked for
    them) relaxed to ``warn_only`` so that ops without a deterministic kernel warn instead of
    failing, every submodule in eval mode, parameter ``.grad`` set
    aside. On exit, even on error: each submodule's train/eval flag, each parameter's ``.grad``
    and ``requires_grad``, the global RNG streams (torch CPU and the module's CUDA device,
    Python's ``random``, NumPy), and module hooks (any hook left registered inside is removed).
    BatchNorm buffers do not change because forwards run in eval mode.

    Tensors used inside must be created inside (``x.clone()``): a tensor made under inference
    mode stays an inference tensor.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5)).train()
        >>> with torch.no_grad(), attribution_guard(net):
        ...     x = torch.ones(1, 2, requires_grad=True)
        ...     (g,) = torch.autograd.grad(net(x).sum(), x)
        >>> net.training
        True
    """
    modes = [(m, m.training) for m in module.modules()]
    params = list(module.parameters())
    requires_grad = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    hooks = [(m, name, set(getattr(m, name, {}))) for m in module.modules() for name in _HOOK_DICTS]
    py_state, np_state = random.getstate(), np.random.get_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    deterministic_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
    device_type = params[0].device.type if params else "cpu"
    with ExitStack() as stack:
        stack.enter_context(torch.random.fork_rng(devices=devices))
        stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.set_grad_enabled(grad))
        stack.enter_context(torch.autocast(device_type=device_type, enabled=False))
        try:
            for p in params:
                p.grad = None
            if deterministic:  # e.g. DeepLift's max-unpool has no deterministic kernel
                torch.use_deterministic_algorithms(True, warn_only=True)
            module.eval()
            yield module
        finally:
            for m, training in modes:
                m.training = training
            for p, flag, g in zip(params, requires_grad, grads, strict=True):
                p.requires_grad_(flag)
                p.grad = g
            for m, name, before in hooks:
                registered = getattr(m, name, None)
                if registered is not None:
                    for key in set(registered) - before:
                        del registered[key]
            if deterministic:
                torch.use_deterministic_algorithms(True, warn_only=deterministic_warn_only)
            random.setstate(py_state)
            np.random.set_state(np_state)
