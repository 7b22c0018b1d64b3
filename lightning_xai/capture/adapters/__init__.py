"""Attention implementations the capture understands, one adapter each."""

from __future__ import annotations

from torch import nn

from lightning_xai.capture.adapters.base import AttentionAdapter, Record
from lightning_xai.capture.adapters.huggingface import HuggingFaceAdapter
from lightning_xai.capture.adapters.mha import MultiheadAttentionAdapter
from lightning_xai.capture.adapters.timm import TimmAdapter

__all__ = [
    "ADAPTERS",
    "AttentionAdapter",
    "HuggingFaceAdapter",
    "MultiheadAttentionAdapter",
    "Record",
    "TimmAdapter",
    "find_attention_layers",
]

ADAPTERS: tuple[AttentionAdapter, ...] = (
    MultiheadAttentionAdapter(),
    HuggingFaceAdapter(),
    TimmAdapter(),
)
"""Every adapter, tried in this order."""


def find_attention_layers(model: nn.Module) -> dict[str, tuple[AttentionAdapter, nn.Module]]:
    """Dotted name -> ``(adapter, module)`` for every attention layer of ``model``, in the
    order of ``model.named_modules()`` (the order of the layers in the forward, for the
    usual stacks).

    Example:
        >>> net = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 2)
        >>> list(find_attention_layers(net))
        ['layers.0.self_attn', 'layers.1.self_attn']
    """
    found: dict[str, tuple[AttentionAdapter, nn.Module]] = {}
    for adapter in ADAPTERS:
        for name, module in adapter.find(model).items():
            found.setdefault(name, (adapter, module))
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    return dict(sorted(found.items(), key=lambda item: order.get(item[0], len(order))))
