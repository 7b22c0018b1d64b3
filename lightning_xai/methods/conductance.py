"""LayerConductance that evaluates each point of its path once."""

from __future__ import annotations

from typing import Any

import torch
from captum._utils.common import (
    _expand_additional_forward_args,
    _expand_target,
    _format_additional_forward_args,
    _format_output,
    _run_forward,
)
from captum.attr import LayerConductance as CaptumLayerConductance
from captum.attr._utils.approximation_methods import approximation_parameters
from captum.attr._utils.common import _format_input_baseline, _validate_input
from captum.log import log_usage
from torch import Tensor, nn

__all__ = ["LayerConductance"]

Tensors = tuple[Tensor, ...]


def _accumulate(total: Tensor, evals: Tensor, grads: Tensor) -> None:
    """``total += sum_i grads[i] * (evals[i + 1] - evals[i])`` in place, one point at a time:
    these are layer-sized (``[points, N, ...]``), the largest tensors of the call after the
    passes' own, and each extra pass over them costs (about 15% of a ConvNet call at one
    thread went to this differencing)."""
    for i in range(evals.shape[0] - 1):
        total.addcmul_(grads[i], evals[i + 1] - evals[i])


class LayerConductance(CaptumLayerConductance):
    """Captum's :class:`~captum.attr.LayerConductance` with the same options and results, and
    less work per call.

    Conductance sums ``grad(point i) * (layer(point i+1) - layer(point i))`` over the
    ``n_steps + 1`` points of the path. Captum's ``internal_batch_size`` evaluates one point
    twice per batch boundary (it re-runs each batch's last point as the next one's first:
    up to +31% of the passes at the monitor's chunk sizes) and asks autograd for one gradient
    root per row. Here each point is evaluated once (the last point's layer output and
    gradient are kept for the next batch's first difference) with one ``sum()`` as the
    root: the same gradients, since rows are independent. Everything else (baselines,
    ``additional_forward_args``, targets, ``attribute_to_layer_input``, ``grad_kwargs``,
    ``return_convergence_delta``) goes through Captum's own helpers; DataParallel models
    (``device_ids``) use Captum's code as it is.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> x = torch.randn(5, 3)
        >>> ours = LayerConductance(net, net[0]).attribute(x, target=1, internal_batch_size=10)
        >>> theirs = CaptumLayerConductance(net, net[0]).attribute(x, target=1)
        >>> bool(torch.allclose(ours, theirs, atol=1e-6))
        True
    """

    _clone_layer = False

    @log_usage()  # Captum's wrapper: NoiseTunnel calls ``attribute.__wrapped__``
    def attribute(
        self,
        inputs: Tensor | Tensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        grad_kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Conductance of each unit of the layer's output (or input), ``[N, ...]`` like it;
        with ``return_convergence_delta``, ``(attribution, delta [N])``. Arguments as
        Captum's; ``internal_batch_size`` rows per pass (at least one point of N rows)."""
        if self.device_ids is not None or isinstance(self.forward_func, nn.DataParallel):
            return super().attribute(
                inputs, baselines, target, additional_forward_args, n_steps, method,
                internal_batch_size, return_convergence_delta=return_convergence_delta,
                attribute_to_layer_input=attribute_to_layer_input, grad_kwargs=grad_kwargs,
            )  # fmt: skip
        inputs_t, baselines_t = _format_input_baseline(inputs, baselines)
        _validate_input(inputs_t, baselines_t, n_steps, method)
        n = inputs_t[0].shape[0]
        alphas = approximation_parameters(method)[1](n_steps + 1)
        per_pass = len(alphas) if internal_batch_size is None else internal_batch_size // n
        per_pass = max(1, per_pass)
        extra = _format_additional_forward_args(additional_forward_args)
        total: list[Tensor] | None = None
        last: tuple[Tensors, Tensors] | None = None
        with torch.enable_grad():
            for start in range(0, len(alphas), per_pass):
                part = alphas[start : start + per_pass]
                evals, grads = self._points(
                    inputs_t, baselines_t, part, target, extra, attribute_to_layer_input,
                    grad_kwargs or {},
                )  # fmt: skip
                if total is None:
                    total = [torch.zeros_like(e[0]) for e in evals]
                for t, e, g in zip(total, evals, grads, strict=True):
                    _accumulate(t, e, g)
                if last is not None:  # the difference across the batch boundary
                    for t, e, le, lg in zip(total, evals, *last, strict=True):
                        t.addcmul_(lg, e[0] - le)
                # Views: they keep this pass's layer tensors alive through the next pass, so
                # glibc does not hand the heap back and fault it in again (freeing them first
                # made a call 1.3-1.6x slower: bench/README.md, "Fourth session").
                last = tuple(e[-1] for e in evals), tuple(g[-1] for g in grads)
        assert total is not None  # alphas is never empty (_validate_input: n_steps >= 0)
        attributions = tuple(total)
        result = _format_output(len(attributions) > 1, attributions)
        if not return_convergence_delta:
            return result
        delta = self.compute_convergence_delta(
            attributions, baselines_t, inputs_t, target=target,
            additional_forward_args=additional_forward_args,
        )  # fmt: skip
        return result, delta

    def _points(
        self,
        inputs: Tensors,
        baselines: tuple[Tensor | int | float, ...],
        alphas: list[float],
        target: Any,
        extra: tuple[Any, ...] | None,
        to_input: bool,
        grad_kwargs: dict[str, Any],
    ) -> tuple[Tensors, Tensors]:
        """One pass over ``len(alphas)`` points: the layer's tensors and the target's
        gradients with respect to them, each ``[points, N, ...]``."""
        k, n = len(alphas), inputs[0].shape[0]
        scaled = tuple(
            torch.cat([b + a * (x - b) for a in alphas])
            for x, b in zip(inputs, baselines, strict=True)
        )
        expanded = None if extra is None else _expand_additional_forward_args(extra, k)
        target = _expand_target(target, k)
        clone = to_input or self._clone_layer
        out, layer, changed = self._capture(scaled, target, expanded, to_input, clone)
        if changed:  # an in-place op after the layer changed its output: copy it from now on
            self._clone_layer = True
            out, layer, _ = self._capture(scaled, target, expanded, to_input, True)
        if out[0].numel() != 1:
            raise AssertionError(
                "Target not provided when necessary, cannot take gradient with respect to "
                "multiple outputs."
            )
        grads = torch.autograd.grad(out.sum(), layer, **grad_kwargs)
        evals = tuple(t.detach().unflatten(0, (k, n)) for t in layer)
        return evals, tuple(g.unflatten(0, (k, n)) for g in grads)

    def _capture(
        self,
        scaled: Tensors,
        target: Any,
        extra: tuple[Any, ...] | None,
        to_input: bool,
        clone: bool,
    ) -> tuple[Tensor, Tensors, bool]:
        """One forward: the selected outputs ``[rows]``, the layer's input or output tensors
        (the last call's), and whether an in-place op changed them after they were kept.
        With ``clone`` the rest of the model runs on a copy (as Captum's hook does)."""
        saved: list[Tensors] = []
        versions: list[list[int]] = []

        def keep(_m: nn.Module, args: Any, output: Any = None) -> Any:
            got = args if to_input else output
            many = isinstance(got, tuple | list)
            got = tuple(got) if many else (got,)
            for t in got:  # e.g. the model's input itself
                if not t.requires_grad:
                    t.requires_grad_()
            saved.append(got)
            versions.append([t._version for t in got])
            if not clone:
                return None
            copies = tuple(t.clone() for t in got)
            return copies if many else copies[0]

        layer = self.layer
        hook = layer.register_forward_pre_hook if to_input else layer.register_forward_hook
        handle = hook(keep)
        try:
            out = _run_forward(self.forward_func, scaled, target, extra)
        finally:
            handle.remove()
        if not saved:
            raise AssertionError("Forward hook did not obtain any outputs for given layer")
        changed = [t._version for t in saved[-1]] != versions[-1]
        return out, saved[-1], changed
