"""Attribution maps to pictures: sign modes, outlier clipping, heat maps, blends, masks."""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_xai.render.colormaps import apply_colormap

__all__ = [
    "SIGNS",
    "VIEWS",
    "attribution_scale",
    "colour_range",
    "normalize_attribution",
    "render_attribution",
    "resolve_sign",
]

SIGNS = ("auto", "all", "positive", "negative", "absolute_value")
VIEWS = ("blended_heat_map", "heat_map", "masked_image")
_SEQUENTIAL = {"positive": "greens", "negative": "reds", "absolute_value": "blues"}


def resolve_sign(attribution: Tensor, sign: str) -> str:
    """``"auto"`` becomes ``"all"`` when ``attribution`` has a negative value, else
    ``"absolute_value"``; other signs are returned as given."""
    if sign != "auto":
        return sign
    return "all" if bool((attribution < 0).any()) else "absolute_value"


def colour_range(sign: str, view: str) -> tuple[str, float, float]:
    """The colormap of a picture and the values its ends stand for, in units of the scale:
    ``("diverging", -1, 1)`` for signed maps; ``"reds"`` runs from 0 to -1 (``sign="negative"``);
    ``"gray"`` is the masked image's brightness, 0 to 1 of |attribution|."""
    if view == "masked_image":
        return "gray", 0.0, 1.0
    if sign == "all":
        return "diverging", -1.0, 1.0
    return _SEQUENTIAL[sign], 0.0, -1.0 if sign == "negative" else 1.0


def _combine(attribution: Tensor, sign: str) -> Tensor:
    """Channels summed, then the sign mode applied: ``[N, 1, ...]`` float32."""
    if sign not in SIGNS[1:]:
        raise ValueError(f"`sign` must be one of {list(SIGNS[1:])}, got {sign!r}.")
    combined = attribution.detach().float().sum(dim=1, keepdim=True)
    if sign == "positive":
        return combined.clamp(min=0)
    if sign == "negative":
        return (-combined).clamp(min=0)
    return combined.abs() if sign == "absolute_value" else combined


def attribution_scale(attribution: Tensor, sign: str = "all", outlier_perc: float = 2.0) -> Tensor:
    """The value each sample's colour scale ends at, as Captum's visualiser picks it.

    Channels are summed; the scale is the value below which ``100 - outlier_perc`` percent of
    the cumulative |attribution| mass lies (the maximum for ``outlier_perc=0``).

    Args:
        attribution: ``[N, C, H, W]`` (or ``[N, C, L]``) attributions.
        sign: ``"all"``, ``"positive"``, ``"negative"`` or ``"absolute_value"``.
        outlier_perc: percentage of the attribution mass treated as outliers and saturated.

    Returns:
        ``[N]`` float32, 0 for all-zero maps.

    Example:
        >>> attribution_scale(torch.tensor([[[1.0, -4.0]]]), outlier_perc=0)
        tensor([4.])
    """
    flat = _combine(attribution, sign).abs().flatten(1).double()
    ordered = flat.sort(dim=1).values
    cumulative = ordered.cumsum(dim=1)
    goal = cumulative[:, -1:] * (100.0 - outlier_perc) / 100.0
    index = torch.searchsorted(cumulative, goal).clamp(max=flat.shape[1] - 1)
    return ordered.gather(1, index).float()[:, 0]


def normalize_attribution(
    attribution: Tensor, sign: str = "all", outlier_perc: float = 2.0, scale: Tensor | None = None
) -> Tensor:
    """Per-sample normalisation as Captum's visualiser does it, batched in torch: the map
    (channels summed, sign mode applied) divided by its scale, then clipped.

    Args:
        attribution: ``[N, C, H, W]`` (or ``[N, C, L]``) attributions.
        sign: ``"all"`` (signed, in [-1, 1]), ``"positive"``, ``"negative"`` or
            ``"absolute_value"`` (each in [0, 1]).
        outlier_perc: see :func:`attribution_scale`.
        scale: ``[N]`` scales to divide by instead of each map's own (e.g. held across
            epochs; ``inf`` draws a flat map).

    Returns:
        ``[N, 1, H, W]`` float32. All-zero maps stay zero.
    """
    combined = _combine(attribution, sign)
    if scale is None:
        scale = attribution_scale(attribution, sign, outlier_perc)
    scale = scale.to(combined.device, torch.float32)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    shape = (-1,) + (1,) * (combined.ndim - 1)
    return (combined / scale.reshape(shape)).clamp(-1, 1)


def render_attribution(
    attribution: Tensor,
    images: Tensor,
    view: str = "blended_heat_map",
    sign: str = "auto",
    outlier_perc: float = 2.0,
    alpha: float = 0.3,
    scale: Tensor | None = None,
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
        scale: ``[N]`` colour scales, see :func:`normalize_attribution`.

    Returns:
        ``[N, 3, H, W]`` float in [0, 1].

    Example:
        >>> attr = torch.randn(2, 1, 8, 8)
        >>> render_attribution(attr, torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """
    if view not in VIEWS:
        raise ValueError(f"`view` must be one of {list(VIEWS)}, got {view!r}.")
    sign = resolve_sign(attribution, sign)
    norm = normalize_attribution(attribution, sign, outlier_perc, scale)
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
