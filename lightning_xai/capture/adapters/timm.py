"""timm's ``Attention`` blocks (its ViTs): the weights computed beside the model in a hook."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from lightning_xai.capture.adapters.base import AttentionAdapter, Record

__all__ = ["TimmAdapter"]

_PARTS = ("qkv", "num_heads", "scale", "attn_drop")


class TimmAdapter(AttentionAdapter):
    """timm's ``Attention`` (``timm.layers.Attention``; ``q k^T`` from one ``qkv`` projection).

    Its fused path (``F.scaled_dot_product_attention``) never forms the weights. For a capture
    pass a forward hook computes ``softmax(q k^T * scale + mask)`` from the block's input with
    the block's own projections and norms (the ops of its unfused path), and leaves the output
    alone: the model computes what it always does. With ``grad`` (gradient-weighted rollout)
    the blocks run their unfused path for the pass, and the weights are read where they enter
    ``attn @ v`` (the output of ``attn_drop``), so that gradients reach them.
    """

    name = "timm"

    def owns(self, module: nn.Module) -> bool:
        return (
            type(module).__name__ == "Attention"
            and type(module).__module__.startswith("timm.")
            and all(hasattr(module, part) for part in _PARTS)
        )

    def hook(self, module: nn.Module, record: Record, grad: bool) -> list[RemovableHandle]:
        if grad:

            def used(_drop: nn.Module, _args: Any, weights: Tensor) -> None:
                record(weights, weights)

            return [cast(nn.Module, module.attn_drop).register_forward_hook(used)]

        def after(
            block: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], _out: Any
        ) -> None:
            weights = _weights(block, *args, **kwargs)
            record(weights, weights)

        return [module.register_forward_hook(after, with_kwargs=True)]

    @contextmanager
    def switched(
        self, model: nn.Module, modules: Sequence[nn.Module], grad: bool
    ) -> Iterator[None]:
        fused = [getattr(m, "fused_attn", False) for m in modules]
        try:
            if grad:
                for module in modules:
                    cast(Any, module).fused_attn = False
            yield
        finally:
            for module, value in zip(modules, fused, strict=True):
                cast(Any, module).fused_attn = value


def _weights(
    block: Any, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False, **rest: Any
) -> Tensor:
    """``[N, H, L, L]``: the block's attention weights on its input ``x [N, L, C]``."""
    n, length, _ = x.shape
    heads = block.num_heads
    qkv = block.qkv(x).reshape(n, length, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    q, k = block.q_norm(q), block.k_norm(k)
    scores = (q * block.scale) @ k.transpose(-2, -1)
    if attn_mask is not None or is_causal:
        from timm.layers.attention import maybe_add_mask, resolve_self_attn_mask

        scores = maybe_add_mask(
            scores, resolve_self_attn_mask(length, scores, attn_mask, is_causal)
        )
    return scores.softmax(dim=-1)
