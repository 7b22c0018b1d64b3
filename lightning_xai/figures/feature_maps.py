"""The pictures of one FeatureMapMonitor layer: its kernels and feature maps as tile grids,
its health scalars and histograms; rendered and written on the writer's thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from lightning_xai.render.grid import (
    feature_map_tiles,
    fit_scale,
    kernel_tiles,
    tile_grid,
)
from lightning_xai.sinks import Sink
from lightning_xai.tags import TAGS

__all__ = ["FeatureMapPictures"]


@dataclass(frozen=True)
class FeatureMapPictures:
    """How a monitor draws its layers, and the drawing.

    Attributes:
        normalize, kernel_view, max_kernel_inputs, tile_size, colormap, histograms: see
            :class:`~lightning_xai.callbacks.FeatureMapMonitor`.
    """

    normalize: str
    kernel_view: str
    max_kernel_inputs: int
    tile_size: int
    colormap: str | None
    histograms: bool

    def log(
        self,
        sink: Sink,
        step: int,
        name: str,
        weight: Tensor,
        capture: dict[str, Any],
        channels: Tensor,
        samples: list[int],
        latest: dict[str, Any],
    ) -> None:
        """Draws and writes one layer (CPU tensors); the pictures also go into ``latest``.

        Args:
            sink: where to write.
            step: the step to log at.
            name: the layer's dotted name.
            weight: its kernels ``[C_out, C_in, *k]``.
            capture: ``maps`` ``[S, C_out, ...]`` of the drawn samples, ``scores`` ``[C_out]``,
                ``values`` (activation sample for the histogram, or ``None``).
            channels: the output channels drawn ``[c]``.
            samples: the probe positions of the rows of ``maps``.
            latest: receives ``filters`` and ``feature_maps`` (position -> grid).
        """
        tiles, ncols = kernel_tiles(weight[channels], self.kernel_view, self.max_kernel_inputs)
        single_value = tiles.shape[-2] * tiles.shape[-1] == 1
        filters = self._grid(tiles, ncols, "layer" if single_value else self.normalize)
        maps = {}
        for j, k in enumerate(samples):
            tiles, ncols = feature_map_tiles(capture["maps"][j][channels])
            maps[k] = self._grid(tiles, ncols, self.normalize)
        sink.add_image(TAGS["filters"](layer=name), filters, step)
        if channels.numel() < capture["scores"].numel():  # capped: say which are shown
            shown = "channels shown: " + ", ".join(str(c) for c in channels.tolist())
            sink.add_text(TAGS["feature_map_channels"](layer=name), shown, step)
        for k, grid in maps.items():
            sink.add_image(TAGS["feature_map"](layer=name, k=k), grid, step)
        if self.histograms:
            sink.add_histogram(TAGS["histogram"](layer=name, values="weights"), weight, step)
            sink.add_histogram(
                TAGS["histogram"](layer=name, values="activations"), capture["values"], step
            )
        latest.update(filters=filters, feature_maps=maps)

    def _grid(self, tiles: Tensor, ncols: int, normalize: str) -> Tensor:
        scale = fit_scale(tiles.shape[-2], tiles.shape[-1], self.tile_size)
        return tile_grid(tiles, ncols, normalize, scale, colormap=self.colormap)
