"""Rendering with torch ops: colormaps, normalisation, heat maps, panels."""

from lightning_xai.render.bars import bar_chart
from lightning_xai.render.colormaps import apply_colormap, colormap
from lightning_xai.render.display import Denormalize, enlarge, to_display
from lightning_xai.render.heatmap import SIGNS, VIEWS, normalize_attribution, render_attribution
from lightning_xai.render.panel import hstack, text_strip, titled_row

__all__ = [
    "SIGNS",
    "VIEWS",
    "Denormalize",
    "apply_colormap",
    "bar_chart",
    "colormap",
    "enlarge",
    "hstack",
    "normalize_attribution",
    "render_attribution",
    "text_strip",
    "titled_row",
    "to_display",
]
