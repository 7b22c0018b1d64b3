"""Attention implementations the capture understands, one adapter each."""

from __future__ import annotations

from collections.abc import Sequence

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
    "watch_attention_layers",
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


def watch_attention_layers(
    model: nn.Module, names: Sequence[str] | None
) -> dict[str, tuple[AttentionAdapter, nn.Module]]:
    """The layers of :func:`find_attention_layers` named in ``names`` (all when ``None``;
    ``{}`` when the model has none).

    Raises:
        ValueError: a name is not an attention layer; the message lists the model's.
    """
    found = find_attention_layers(model)
    for name in names or ():
        if name not in found:
            try:
                what = f"a {type(model.get_submodule(name)).__name__}"
            except AttributeError:
                what = "not a submodule"
            raise ValueError(
                f"`layers` names {name!r}, {what} of {type(model).__name__}; its attention "
                f"layers: {list(found)}."
            )
    return {name: found[name] for name in names or found}
