"""Rendering with torch ops: colormaps, normalisation, heat maps, panels, tile grids, tokens,
attention maps."""

from lightning_xai.render.attention import attention_matrix, cls_attention_maps
from lightning_xai.render.bars import bar_chart
from lightning_xai.render.colormaps import apply_colormap, colormap
from lightning_xai.render.display import Denormalize, enlarge, to_display
from lightning_xai.render.grid import (
    KERNEL_VIEWS,
    NORMALIZATIONS,
    feature_map_tiles,
    fit_scale,
    kernel_tiles,
    normalize_tiles,
    select_channels,
    tile_grid,
)
from lightning_xai.render.heatmap import SIGNS, VIEWS, normalize_attribution, render_attribution
from lightning_xai.render.panel import hstack, text_strip, title_size, titled_row, titled_rows
from lightning_xai.render.png import encode_png, to_uint8
from lightning_xai.render.tokens import token_strip, token_table

__all__ = [
    "KERNEL_VIEWS",
    "NORMALIZATIONS",
    "SIGNS",
    "VIEWS",
    "Denormalize",
    "apply_colormap",
    "attention_matrix",
    "bar_chart",
    "cls_attention_maps",
    "colormap",
    "encode_png",
    "enlarge",
    "feature_map_tiles",
    "fit_scale",
    "hstack",
    "kernel_tiles",
    "normalize_attribution",
    "normalize_tiles",
    "render_attribution",
    "select_channels",
    "text_strip",
    "tile_grid",
    "title_size",
    "titled_row",
    "titled_rows",
    "to_display",
    "to_uint8",
    "token_strip",
    "token_table",
]
