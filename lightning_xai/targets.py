"""Which model output an attribution explains: predicted class, label, fixed class, callable."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from lightning_xai.inputs import ModelInputs, keyword_call

__all__ = ["SelectOutput", "TargetSpec", "check_target", "resolve_target", "score_probe"]

TargetSpec = str | int | None | Callable[[Tensor, Tensor | None], Tensor]
"""``"pred"``, ``"label"``, a class index, ``None`` (single-output models) or a callable
``(outputs [N, K], labels [N] | None) -> targets [N]``."""

_NAMED = ("pred", "label")


def check_target(target: object) -> None:
    """Raises ``TypeError``/``ValueError`` naming ``target`` when it is not a valid spec."""
    if target is None or callable(target):
        return
    if isinstance(target, bool) or not isinstance(target, str | int):
        raise TypeError(
            f"`target` must be one of {list(_NAMED)}, an int class index, None or a "
            f"callable (outputs, labels) -> targets, got {type(target).__name__}."
        )
    if isinstance(target, str) and target not in _NAMED:
        raise ValueError(f"`target` must be one of {list(_NAMED)}, got {target!r}.")
    if isinstance(target, int) and target < 0:
        raise ValueError(f"`target` class index must be >= 0, got {target}.")


def resolve_target(target: TargetSpec, outputs: Tensor, labels: Tensor | None) -> Tensor | None:
    """Turns a target spec into one class index per sample.

    Args:
        target: see :data:`TargetSpec`.
        outputs: model outputs on the probe ``[N, K]`` (or ``[N]`` / ``[N, 1]`` for regression).
        labels: probe labels ``[N]`` or ``None``.

    Returns:
        Long tensor ``[N]`` on the outputs' device, or ``None`` for single-output models.

    Example:
        >>> resolve_target("pred", torch.tensor([[0.1, 0.9], [2.0, 1.0]]), None)
        tensor([1, 0])
    """
    classes = outputs.shape[1] if outputs.ndim > 1 else 1
    if target is None:
        return None
    if callable(target):
        result = torch.as_tensor(target(outputs, labels), device=outputs.device).long()
    elif target == "pred":
        if classes == 1:
            return None
        result = outputs.reshape(outputs.shape[0], -1).argmax(dim=1)
    elif target == "label":
        if labels is None:
            raise ValueError(
                "`target='label'` needs labels, but the probe has none; use 'pred', an int or "
                "a callable."
            )
        result = labels.to(outputs.device).long().reshape(-1)
    else:
        result = torch.full((outputs.shape[0],), int(target), device=outputs.device)
    if result.shape != (outputs.shape[0],):
        raise ValueError(
            f"`target` must give one class per probe sample ({outputs.shape[0]}), got shape "
            f"{tuple(result.shape)}."
        )
    if classes > 1 and (int(result.min()) < 0 or int(result.max()) >= classes):
        raise ValueError(
            f"`target` class indices must lie in [0, {classes - 1}] for a model with {classes} "
            f"outputs, got values in [{int(result.min())}, {int(result.max())}]."
        )
    return result


class SelectOutput(nn.Module):
    """The model as Captum sees it: one tensor of scores ``[N, K]`` from positional inputs.

    ``transform`` picks the scores from the output (for models returning a dict or a tuple);
    without one, a Hugging Face ``ModelOutput`` (or any mapping with ``logits``) gives its
    ``logits`` and a tensor is returned as it is. ``keys`` (set from a dict batch's
    :class:`~lightning_xai.inputs.ModelInputs`) turn Captum's positional arguments into the
    keywords the model was trained with (``input_ids=..., attention_mask=...``).

    The model stays a submodule (its layers are the same objects, so layer methods and
    DeepLift's module rewrites still reach them).

    Example:
        >>> net = SelectOutput(nn.Linear(2, 3), lambda out: out * 2)
        >>> net(torch.ones(1, 2)).shape
        torch.Size([1, 3])
    """

    def __init__(
        self, model: nn.Module, transform: Callable[[object], Tensor] | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.transform = transform
        self.keys: tuple[str, ...] = ()

    def forward(self, *args: object, **kwargs: object) -> Tensor:
        if kwargs:
            output = self.model(*args, **kwargs)
        else:
            output = keyword_call(self.model, args, self.keys)
        if self.transform is not None:
            return self.transform(output)
        if not isinstance(output, Tensor) and isinstance(output, Mapping) and "logits" in output:
            return output["logits"]
        return output


def score_probe(
    model: nn.Module, batch: ModelInputs, target: TargetSpec, labels: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """The model's scores on the probe ``[N, K]`` (grad off) and the targets ``[N]`` that
    ``target`` picks (``None`` for single-output models).

    Raises:
        FloatingPointError: the scores hold NaN or inf.
    """
    with torch.no_grad():
        outputs = batch(model)
    if not torch.isfinite(outputs).all():
        raise FloatingPointError("the model's outputs on the probe hold NaN or inf")
    return outputs, resolve_target(target, outputs, labels)
