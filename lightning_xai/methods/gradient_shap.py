"""GradientShap whose gradient passes are chunked."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from captum._utils.common import (
    ExpansionTypes,
    _expand_additional_forward_args,
    _expand_target,
    _format_additional_forward_args,
    _format_baseline,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
)
from captum.attr import GradientShap as CaptumGradientShap
from captum.attr._utils.common import _format_callable_baseline, _validate_input
from captum.log import log_usage
from torch import Tensor

__all__ = ["GradientShap"]

Tensors = tuple[Tensor, ...]
_INTERLEAVE = ExpansionTypes.repeat_interleave


class GradientShap(CaptumGradientShap):
    """Captum's :class:`~captum.attr.GradientShap` with the same options, random draws and
    results, and an ``internal_batch_size``: rows per forward+backward pass.

    Captum evaluates all ``N * n_samples`` rows in one pass (it has no chunking knob), which
    on a CPU is slower per row than passes of a few dozen rows once the activations outgrow
    the caches and the allocator (bench/README.md, issue 18). Here the rows are drawn exactly
    as Captum draws them, in the same order (baseline indices and the coefficients from
    NumPy's global RNG, the noise from torch's), and their gradients are taken
    at most ``internal_batch_size`` rows at a time with Captum's own gradient function: the same
    gradients, since rows are independent. With ``stdevs`` 0 (the default) the noise is
    zero and is not drawn, so torch's RNG is not advanced (Captum draws zero-scaled noise).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        >>> x, base = torch.randn(6, 3), torch.randn(4, 3)
        >>> np.random.seed(0); ours = GradientShap(net).attribute(
        ...     x, base, target=1, internal_batch_size=5)
        >>> np.random.seed(0); theirs = CaptumGradientShap(net).attribute(x, base, target=1)
        >>> bool(torch.allclose(ours, theirs, atol=1e-6))
        True
    """

    @log_usage()  # Captum's wrapper: NoiseTunnel calls ``attribute.__wrapped__``
    def attribute(
        self,
        inputs: Tensor | Tensors,
        baselines: Any,
        n_samples: int = 5,
        stdevs: float | tuple[float, ...] = 0.0,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        internal_batch_size: int | None = None,
    ) -> Any:
        """GradientSHAP attributions ``[N, ...]`` like ``inputs``; with
        ``return_convergence_delta``, ``(attributions, delta [N * n_samples])``. Arguments as
        Captum's; ``internal_batch_size``: rows per pass (default: all in one pass)."""
        formatted = _format_callable_baseline(baselines, inputs)
        assert isinstance(formatted[0], torch.Tensor), (
            f"Baselines distribution has to be provided in a form of a torch.Tensor {formatted[0]}."
        )
        with torch.no_grad():  # as Captum's NoiseTunnel: the rows carry no graph
            inputs_t = _format_tensor_into_tuples(inputs)
            n = n_samples
            extra = _format_additional_forward_args(additional_forward_args)
            if extra is not None:
                extra = _expand_additional_forward_args(extra, n, _INTERLEAVE)
            target = _expand_target(target, n, expansion_type=_INTERLEAVE)
            base = _format_baseline(formatted, inputs_t)
            _validate_input(inputs_t, base, draw_baseline_from_distrib=True)
            size = inputs_t[0].shape[0]
            drawn = tuple(
                b[np.random.choice(b.shape[0], n * size).tolist()] if isinstance(b, Tensor) else b
                for b in base
            )
            noisy = _noisy(inputs_t, stdevs, n)
            rand = torch.tensor(
                np.random.uniform(0.0, 1.0, noisy[0].shape[0]),
                device=noisy[0].device,
                dtype=noisy[0].dtype,
            )
            scaled = tuple(_scale(x, b, rand) for x, b in zip(noisy, drawn, strict=True))
            grads = self._gradients(scaled, target, extra, internal_batch_size)
            rows: Tensors = grads
            if self.multiplies_by_inputs:
                rows = tuple((x - b) * g for x, b, g in zip(noisy, drawn, grads, strict=True))
            attributions = tuple(
                a.view(size, n, *a.shape[1:]).sum(dim=1) * 1 / n for a in rows
            )  # as NoiseTunnel's smoothgrad over one batch of n samples
            result = _format_output(_is_tuple(inputs), attributions)
            if not return_convergence_delta:
                return result
            delta = self.compute_convergence_delta(
                rows, drawn, noisy, additional_forward_args=extra, target=target
            )
        return result, delta

    def _gradients(self, scaled: Tensors, target: Any, extra: Any, rows: int | None) -> Tensors:
        """Gradients of the target outputs at ``scaled`` (``[R, ...]`` each), at most
        ``rows`` rows per pass, in passes of equal size (160 rows at 113: two of 80)."""
        total = scaled[0].shape[0]
        passes = 1 if rows is None else -(-total // max(1, rows))
        step = -(-total // passes)
        parts: list[Tensors] = []
        for start in range(0, total, step):
            part = slice(start, start + step)
            chunk = tuple(s[part].detach().requires_grad_() for s in scaled)
            parts.append(
                self.gradient_func(
                    self.forward_func, chunk, _rows(target, part, total), _rows(extra, part, total)
                )
            )
        if len(parts) == 1:
            return parts[0]
        return tuple(torch.cat(group) for group in zip(*parts, strict=True))


def _noisy(inputs: Tensors, stdevs: float | tuple[float, ...], n: int) -> Tensors:
    """Each input repeated ``n`` times per sample (sample-major), plus Gaussian noise drawn as
    Captum's ``NoiseTunnel`` draws it (the same numbers: ``randn * stdev``)."""
    if isinstance(stdevs, tuple):
        assert len(stdevs) == len(inputs), (
            f"The number of input tensors in {len(inputs)} must be equal to the number of "
            f"stdevs values {len(stdevs)}"
        )
    else:
        assert isinstance(stdevs, float), f"stdevs must be type float. Given: {type(stdevs)}"
        stdevs = (stdevs,) * len(inputs)
    noisy = []
    for x, stdev in zip(inputs, stdevs, strict=True):
        repeated = x.repeat_interleave(n, dim=0)
        if stdev != 0:
            # torch.tensor(stdev) in Captum: the default dtype, whatever the input's
            repeated = repeated + torch.randn(repeated.shape, device=x.device) * stdev
        noisy.append(repeated)
    return tuple(noisy)


def _scale(x: Tensor, baseline: Tensor | float, rand: Tensor) -> Tensor:
    """Captum's ``_scale_input``: ``rand * x + (1 - rand) * baseline`` per row."""
    rand = rand.view(x.shape[0], *([1] * (x.ndim - 1)))
    return rand * x + (1.0 - rand) * baseline


def _rows(value: Any, part: slice, total: int) -> Any:
    """``value``'s rows ``part`` when it has one per row (a tensor, list or tuple of
    ``total``); tuples of such values element by element; anything else as it is."""
    if isinstance(value, Tensor):
        return value[part] if value.ndim and value.shape[0] == total else value
    if isinstance(value, list):
        return value[part] if len(value) == total else value
    if isinstance(value, tuple):
        return tuple(_rows(v, part, total) for v in value)
    return value
