"""Attribution maps to pictures: sign modes, outlier clipping, heat maps, blends, masks."""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_xai.render.colormaps import apply_colormap

__all__ = ["SIGNS", "VIEWS", "normalize_attribution", "render_attribution"]

SIGNS = ("auto", "all", "positive", "negative", "absolute_value")
VIEWS = ("blended_heat_map", "heat_map", "masked_image")
_SEQUENTIAL = {"positive": "greens", "negative": "reds", "absolute_value": "blues"}


def normalize_attribution(
    attribution: Tensor, sign: str = "all", outlier_perc: float = 2.0
) -> Tensor:
    """Per-sample normalisation as Captum's visualiser does it, batched in torch.

    Channels are summed; the map is divided by the value below which ``100 - outlier_perc``
    percent of the cumulative |attribution| mass lies, then clipped.

    Args:
        attribution: ``[N, C, H, W]`` (or ``[N, C, L]``) attributions.
        sign: ``"all"`` (signed, in [-1, 1]), ``"positive"``, ``"negative"`` or
            ``"absolute_value"`` (each in [0, 1]).
        outlier_perc: percentage of the attribution mass treated as outliers and saturated.

    Returns:
        ``[N, 1, H, W]`` float32. All-zero maps stay zero.
    """
    if sign not in SIGNS[1:]:
        raise ValueError(f"`sign` must be one of {list(SIGNS[1:])}, got {sign!r}.")
    combined = attribution.detach().float().sum(dim=1, keepdim=True)
    if sign == "positive":
        combined = combined.clamp(min=0)
    elif sign == "negative":
        combined = (-combined).clamp(min=0)
    elif sign == "absolute_value":
        combined = combined.abs()
    flat = combined.abs().flatten(1).double()
    ordered = flat.sort(dim=1).values
    cumulative = ordered.cumsum(dim=1)
    goal = cumulative[:, -1:] * (100.0 - outlier_perc) / 100.0
    index = torch.searchsorted(cumulative, goal).clamp(max=flat.shape[1] - 1)
    threshold = ordered.gather(1, index).float()
    threshold = torch.where(threshold < 1e-12, torch.ones_like(threshold), threshold)
    shape = (-1,) + (1,) * (combined.ndim - 1)
    return (combined / threshold.reshape(shape)).clamp(-1, 1)


def render_attribution(
    attribution: Tensor,
    images: Tensor,
    view: str = "blended_heat_map",
    sign: str = "auto",
    outlier_perc: float = 2.0,
    alpha: float = 0.3,
) -> Tensor:
    """Pictures of attributions over the inputs they explain.

    Args:
        attribution: ``[N, C, H, W]`` or ``[N, 1, H, W]`` on the input grid.
        images: displayable inputs ``[N, 3, H, W]`` in [0, 1].
        view: ``"blended_heat_map"`` (heat map over the grey input, more opaque where the
            attribution is stronger), ``"heat_map"`` or
            ``"masked_image"`` (input scaled by the normalised |attribution|).
        sign: one of :data:`SIGNS`; ``"auto"`` is ``"all"`` for signed maps and
            ``"absolute_value"`` for maps without negative values.
        outlier_perc: see :func:`normalize_attribution`.
        alpha: least weight of the heat map in the blend (reached where it is zero).

    Returns:
        ``[N, 3, H, W]`` float in [0, 1].

    Example:
        >>> attr = torch.randn(2, 1, 8, 8)
        >>> render_attribution(attr, torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """
    if view not in VIEWS:
        raise ValueError(f"`view` must be one of {list(VIEWS)}, got {view!r}.")
    if sign == "auto":
        sign = "all" if bool((attribution < 0).any()) else "absolute_value"
    norm = normalize_attribution(attribution, sign, outlier_perc)
    if view == "masked_image":
        return images * norm.abs()
    if sign == "all":
        heat = apply_colormap((norm + 1) / 2, "diverging")
    else:
        heat = apply_colormap(norm, _SEQUENTIAL[sign])
    if view == "heat_map":
        return heat
    # Colour where the attribution is strong, the (dimmed) input where it is weak.
    grey = images.mean(dim=1, keepdim=True) * 0.8
    weight = alpha + (1 - alpha) * norm.abs()
    return (1 - weight) * grey + weight * heat
