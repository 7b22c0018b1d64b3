"""The title strip of each probe sample: epoch, index, label, prediction and its probability."""

from __future__ import annotations

from torch import Tensor

__all__ = ["probe_titles"]


def probe_titles(
    outputs: Tensor | None,
    targets: Tensor | None,
    labels: Tensor | None,
    size: int = 0,
    epoch: int | None = None,
) -> list[str]:
    """``"epoch 3 · #2 | label 7 | pred 7 (0.98)"`` per sample; regression shows the output
    value.

    Args:
        outputs: the model's outputs ``[N, ...]``, or ``None`` (they are not a tensor).
        targets: the explained class per sample ``[N]`` (named where it is not the
            prediction), or ``None``.
        labels: the labels ``[N]``, or ``None``.
        size: ``N``, used when ``outputs`` is ``None``.
        epoch: the epoch the outputs are from, or ``None`` (left out).

    Example:
        >>> import torch
        >>> probe_titles(torch.tensor([[0.0, 2.0]]), None, torch.tensor([1]), epoch=3)
        ['epoch 3 · #0 | label 1 | pred 1 (0.88)']
    """
    flat = None if outputs is None else outputs.reshape(outputs.shape[0], -1)
    probs = None if flat is None or flat.shape[1] == 1 else flat.softmax(dim=1)
    titles = []
    for k in range(size if flat is None else flat.shape[0]):
        parts = [f"#{k}" if epoch is None else f"epoch {epoch} · #{k}"]
        if labels is not None and labels.ndim == 1:
            label = labels[k].item()
            parts.append(f"label {label:.3g}" if isinstance(label, float) else f"label {label}")
        if probs is not None:
            pred = int(probs[k].argmax())
            parts.append(f"pred {pred} ({float(probs[k, pred]):.2f})")
            if targets is not None and int(targets[k]) != pred:
                parts.append(f"target {int(targets[k])}")
        elif flat is not None:
            parts.append(f"output {float(flat[k, 0]):.3g}")
        titles.append(" | ".join(parts))
    return titles
