"""Attention rollout (Abnar & Zuidema, ACL 2020) and its gradient-weighted form (Chefer et al.,
ICCV 2021) as Captum-style attributions of transformers: over the tokens or the image patches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from captum._utils.common import _select_targets
from torch import Tensor, nn

from lightning_xai.capture.adapters import ADAPTERS, find_attention_layers
from lightning_xai.capture.attention import recording
from lightning_xai.render.attention import infer_patch_grid

__all__ = ["AttentionRollout", "GradientAttentionRollout", "rollout"]

_FUSIONS = ("mean", "max", "min")


def rollout(
    weights: list[Tensor], gradients: list[Tensor] | None = None, fusion: str = "mean"
) -> Tensor:
    """How much each token flows into each token through the whole stack.

    Without ``gradients`` (Abnar & Zuidema): per layer the heads fused (``fusion``), the
    residual added as ``A' = (A + I) / 2``, and ``R = A'_L ... A'_1``. With ``gradients``
    (Chefer et al. 2021, their rule for self-attention): ``Ā = mean_h (∇A ⊙ A)^+``, and from
    ``R = I`` each layer in order updates ``R <- R + Ā R``.

    Args:
        weights: per layer in forward order, ``[N, H, L, L]`` (rows sum to 1).
        gradients: per layer, the gradient of the explained score with respect to the weights.
        fusion: ``"mean"``, ``"max"`` or ``"min"`` over heads (without gradients).

    Returns:
        ``[N, L, L]``: row ``i`` is token ``i``'s relevance over the input tokens.

    Example:
        >>> rollout([torch.eye(3).expand(1, 2, 3, 3)]).shape
        torch.Size([1, 3, 3])
    """
    n, _, length, _ = weights[0].shape
    eye = torch.eye(length, device=weights[0].device, dtype=torch.float32).expand(n, -1, -1)
    result = eye.clone()
    for layer, a in enumerate(weights):
        a = a.detach().float()
        if gradients is None:
            fused = getattr(a, fusion)(dim=1)
            fused = fused if isinstance(fused, Tensor) else fused.values
            result = ((fused + eye) / 2) @ result
        else:
            relevance = (gradients[layer].float() * a).clamp(min=0).mean(dim=1)
            result = result + relevance @ result
    return result


class AttentionRollout:
    """Attention rollout of the model's attention layers, read off the query token ``query``
    (the CLS token by default): a score per token for token inputs ``[N, L]``, a map over the
    patch grid (``[N, 1, rows, cols]``; prefix tokens such as CLS dropped; the monitor
    upsamples it to the image) for image inputs ``[N, C, H, W]``, else ``[N, L]``.

    Every attention layer the capture understands is used (``nn.MultiheadAttention``,
    Hugging Face, timm: see :mod:`lightning_xai.capture.adapters`), in the order they run; each
    must attend over the same ``L`` tokens.

    Args:
        forward_func: the model (an ``nn.Module``), ``inputs -> outputs [N, K]``.
        fusion: how heads are fused without gradients: ``"mean"`` (the paper), ``"max"``,
            ``"min"``.

    Example:
        >>> net = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, batch_first=True), 2)
        >>> AttentionRollout(net.eval()).attribute(torch.randn(2, 5, 8)).shape
        torch.Size([2, 5])
    """

    gradient = False

    def __init__(self, forward_func: Callable[..., Any], fusion: str = "mean") -> None:
        name = type(self).__name__
        if not isinstance(forward_func, nn.Module):
            raise TypeError(
                f"{name}: the model must be an nn.Module, got {type(forward_func).__name__}."
            )
        if fusion not in _FUSIONS:
            raise ValueError(f"{name}: `fusion` must be one of {list(_FUSIONS)}, got {fusion!r}.")
        self.forward_func = forward_func
        self.fusion = fusion
        self.layers = find_attention_layers(forward_func)
        if not self.layers:
            kinds = ", ".join(adapter.name for adapter in ADAPTERS)
            raise ValueError(
                f"{name}: {type(forward_func).__name__} has no attention layer ({kinds}) to roll "
                "out; pick another method."
            )

    def attribute(
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: int | Tensor | None = None,
        additional_forward_args: Any = None,
        query: int = 0,
    ) -> Tensor:
        """The rollout of ``inputs`` (towards ``target`` for the gradient-weighted form).

        Args:
            inputs: ``[N, ...]`` model inputs (a tuple for several).
            target: class index or ``[N]`` indices (used by the gradient-weighted form).
            additional_forward_args: extra positional arguments of the forward function.
            query: the token whose row of the rollout is returned.

        Returns:
            ``[N, L]`` per token, or ``[N, 1, rows, cols]`` over the patches of image inputs.
        """
        tensors = inputs if isinstance(inputs, tuple) else (inputs,)
        extra = additional_forward_args
        extra = () if extra is None else extra if isinstance(extra, tuple) else (extra,)
        weights, graphs = [], []

        def record(_name: str, w: Tensor, graph: Tensor) -> None:
            weights.append(w)
            graphs.append(graph)

        grad = self.gradient
        with (
            recording(self.forward_func, self.layers, record, grad=grad),
            torch.set_grad_enabled(grad),
        ):
            outputs = self.forward_func(*tensors, *extra)
        if not weights:
            raise RuntimeError(
                f"{type(self).__name__}: no attention layer ran in the forward pass."
            )
        gradients = None
        if grad:
            score = _select_targets(outputs, target).sum()
            found = torch.autograd.grad(score, graphs, allow_unused=True)
            gradients = [
                torch.zeros_like(w) if g is None else g.reshape(w.shape)
                for g, w in zip(found, weights, strict=True)
            ]
        relevance = rollout(weights, gradients, self.fusion)[:, query]  # [N, L]
        first = tensors[0]
        if first.ndim == 4:
            grid = infer_patch_grid(relevance.shape[1], (first.shape[-2], first.shape[-1]))
            if grid is not None:
                patches = relevance[:, relevance.shape[1] - grid[0] * grid[1] :]
                return patches.reshape(-1, 1, *grid)
        return relevance


class GradientAttentionRollout(AttentionRollout):
    """Gradient-weighted attention rollout (Chefer et al., "Generic Attention-model
    Explainability", ICCV 2021): each head's attention weighted by the gradient of the target
    score, negative contributions dropped, see :func:`rollout`. Arguments as
    :class:`AttentionRollout` (``fusion`` is unused: heads are averaged)."""

    gradient = True
