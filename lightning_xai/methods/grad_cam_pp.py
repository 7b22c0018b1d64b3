"""Grad-CAM++ (Chattopadhyay et al., WACV 2018) as a Captum-style layer attribution."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor, nn

__all__ = ["GradCamPlusPlus"]


class GradCamPlusPlus(LayerAttribution, GradientAttribution):
    """Grad-CAM++ on one layer, with Captum's ``attribute`` conventions (works in NoiseTunnel).

    Grad-CAM weighs each channel ``k`` of the layer's activations ``A`` by its mean gradient;
    Grad-CAM++ weighs the positive gradients pixel by pixel with

    ``alpha_kij = g_kij^2 / (2 g_kij^2 + sum_ab A_kab * g_kij^3)``,
    ``w_k = sum_ij alpha_kij * relu(g_kij)``, ``L = relu(sum_k w_k A_k)``,

    where ``g = dy/dA`` for the target score ``y``. The second and third derivatives of the
    paper are taken in closed form as powers of the first (the paper's exponential-score
    trick, exact for a piecewise-linear network), as pytorch-grad-cam computes them: no
    higher-order autograd. ``alpha`` is 0 where ``g`` is 0; ``eps`` keeps the division finite.

    Args:
        forward_func: the model, ``inputs [N, ...] -> outputs [N, K]`` (or ``[N]``).
        layer: the module whose output ``[N, C, *spatial]`` is explained (a conv layer).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
        >>> GradCamPlusPlus(net, net[0]).attribute(torch.rand(4, 1, 4, 4), target=1).shape
        torch.Size([4, 1, 2, 2])
    """

    def __init__(self, forward_func: Callable[..., Tensor], layer: nn.Module) -> None:
        LayerAttribution.__init__(self, forward_func, layer)
        GradientAttribution.__init__(self, forward_func)

    @log_usage()  # Captum's wrapper: NoiseTunnel calls ``attribute.__wrapped__``
    def attribute(
        self,
        inputs: Tensor,
        target: int | Tensor | None = None,
        additional_forward_args: Any = None,
        relu_attributions: bool = True,
        eps: float = 1e-6,
    ) -> Tensor:
        """Grad-CAM++ maps of ``inputs`` towards ``target``.

        Args:
            inputs: ``[N, ...]`` model inputs.
            target: class index, ``[N]`` indices, or ``None`` for single-output models.
            additional_forward_args: extra positional arguments of the forward function.
            relu_attributions: keep only positive evidence (the published map).
            eps: added to the denominator of ``alpha``.

        Returns:
            ``[N, 1, *spatial]`` on the layer's grid (upsample it to the input to overlay).
        """
        saved: list[Tensor] = []

        def keep(_module: nn.Module, _args: Any, output: Any) -> None:
            saved.append(output[0] if isinstance(output, tuple) else output)

        extra = () if additional_forward_args is None else additional_forward_args
        extra = extra if isinstance(extra, tuple) else (extra,)
        handle = self.layer.register_forward_hook(keep)
        try:
            with torch.enable_grad():  # NoiseTunnel calls this under no_grad
                outputs = self.forward_func(inputs.detach().requires_grad_(True), *extra)
                scores = _select(outputs, target).sum()
        finally:
            handle.remove()
        if not saved:
            raise RuntimeError(
                f"GradCamPlusPlus: the layer {type(self.layer).__name__} was not called in the "
                "forward pass; pass a `layer` the model uses."
            )
        activations = saved[-1]
        if activations.ndim < 3:
            raise ValueError(
                "GradCamPlusPlus: the layer's output must have spatial dimensions "
                f"[N, C, H, W], got shape {tuple(activations.shape)}; pick a conv layer."
            )
        (grads,) = torch.autograd.grad(scores, activations)
        spatial = tuple(range(2, activations.ndim))
        activations = activations.detach()
        grads_2 = grads.pow(2)
        grads_3 = grads_2 * grads
        sum_activations = activations.sum(dim=spatial, keepdim=True)
        alpha = grads_2 / (2 * grads_2 + sum_activations * grads_3 + eps)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        weights = (alpha * grads.clamp(min=0)).sum(dim=spatial, keepdim=True)
        cam = (weights * activations).sum(dim=1, keepdim=True)
        return cam.clamp(min=0) if relu_attributions else cam


def _select(outputs: Tensor, target: int | Tensor | None) -> Tensor:
    """The score per sample ``[N]`` (Captum's target convention)."""
    flat = outputs.reshape(outputs.shape[0], -1)
    if target is None:
        if flat.shape[1] != 1:
            raise ValueError(
                f"GradCamPlusPlus: `target` is None but the model has {flat.shape[1]} outputs "
                "per sample; pass a class index."
            )
        return flat[:, 0]
    index = torch.as_tensor(target, device=flat.device).long().reshape(-1)
    if index.numel() == 1:
        index = index.expand(flat.shape[0])
    return flat.gather(1, index[:, None])[:, 0]
