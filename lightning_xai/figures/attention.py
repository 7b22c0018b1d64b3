"""The pictures of one AttentionMonitor layer: per-head query x key heat maps and, for image
inputs, the CLS query's attention over the patch grid; rendered on the writer's thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_xai.render import (
    Denormalize,
    enlarge,
    render_attribution,
    text_strip,
    titled_row,
    to_display,
)
from lightning_xai.render.attention import (
    attention_matrix,
    cls_attention_maps,
    infer_patch_grid,
    model_view,
    upsample_maps,
)
from lightning_xai.render.tokens import Vocabulary, token_labels
from lightning_xai.sinks import Sink
from lightning_xai.tags import TAGS

__all__ = ["AttentionPictures"]


@dataclass(frozen=True)
class AttentionPictures:
    """How a monitor draws attention, and the drawing.

    Attributes:
        vocabulary, pad_id, query, patch_grid, denormalize, max_labels, image_size: see
            :class:`~lightning_xai.callbacks.AttentionMonitor`.
        warn_once: ``(key, message)`` -> a warning given once per key.
    """

    vocabulary: Vocabulary | None
    pad_id: int | None
    query: int
    patch_grid: tuple[int, int] | None
    denormalize: Denormalize
    max_labels: int
    image_size: int
    warn_once: Callable[[str, str], None]

    def log(
        self,
        sink: Sink,
        step: int,
        name: str,
        weights: Tensor,
        inputs: Tensor,
        samples: list[int],
        titles: dict[int, str],
    ) -> None:
        """Draws and writes one layer (CPU tensors).

        Args:
            sink: where to write.
            step: the step to log at.
            name: the layer's dotted name.
            weights: the drawn samples' attention ``[S, H, L, S_keys]``.
            inputs: the probe's inputs ``[N, ...]``.
            samples: the probe positions of the rows of ``weights``.
            titles: position -> title strip.
        """
        heads = weights.shape[1]
        headers = [f"head {h}" for h in range(heads)]
        for j, k in zip(range(weights.shape[0]), samples, strict=False):
            rows, cols, row_labels, col_labels = self._axes(inputs[k], *weights.shape[2:])
            tiles = [
                attention_matrix(weights[j, h][rows][:, cols], row_labels, col_labels)
                for h in range(heads)
            ]
            panel = titled_row(tiles, headers, titles[k])
            sink.add_image(TAGS["attention"](layer=name, k=k), panel, step)
        if inputs.ndim == 4:
            self._log_cls_maps(sink, step, name, weights, inputs, samples, titles)

    def log_model_view(
        self,
        sink: Sink,
        step: int,
        weights: dict[str, Tensor],
        samples: list[int],
        titles: dict[int, str],
    ) -> None:
        """Writes every layer and head of each drawn sample in one picture (CPU tensors).

        Args:
            sink: where to write.
            step: the step to log at.
            weights: layer name -> the drawn samples' attention ``[S, H, L, S_keys]``.
            samples: the probe positions of the rows of each layer's weights.
            titles: position -> title strip.
        """
        for j, k in enumerate(samples):
            names = [name for name, w in weights.items() if j < w.shape[0]]
            if names:
                picture = model_view([weights[name][j] for name in names], names)
                sink.add_image(TAGS["attention_model"](k=k), _with_title(picture, titles[k]), step)

    def _axes(
        self, sample: Tensor, num_queries: int, num_keys: int
    ) -> tuple[Tensor, Tensor, list[str] | None, list[str] | None]:
        """Kept query/key positions and their labels for one probe sample."""
        rows, cols = torch.arange(num_queries), torch.arange(num_keys)
        is_tokens = sample.ndim == 1 and not sample.is_floating_point()
        if is_tokens and num_queries == num_keys == sample.shape[0]:
            if self.pad_id is not None:
                rows = cols = (sample != self.pad_id).nonzero().squeeze(1)
            strings = token_labels(sample[rows], self.vocabulary)
            row_labels = col_labels = strings
        else:
            row_labels = [str(i) for i in range(num_queries)]
            col_labels = [str(i) for i in range(num_keys)]
        if max(len(rows), len(cols)) > self.max_labels:
            return rows, cols, None, None
        return rows, cols, row_labels, col_labels

    def _log_cls_maps(
        self,
        sink: Sink,
        step: int,
        name: str,
        weights: Tensor,
        inputs: Tensor,
        samples: list[int],
        titles: dict[int, str],
    ) -> None:
        grid = self.patch_grid or infer_patch_grid(weights.shape[-1], _size(inputs))
        if grid is None or grid[0] * grid[1] > weights.shape[-1]:
            self.warn_once(
                f"grid-{name}",
                f"layer {name!r} attends over {weights.shape[-1]} keys, which fit no patch grid "
                "for the image; pass `patch_grid=(rows, cols)` to draw its CLS maps.",
            )
            return
        maps = cls_attention_maps(weights, grid, self.query)  # [samples, H, r, c]
        maps = torch.cat([maps, maps.mean(dim=1, keepdim=True)], dim=1)
        maps = upsample_maps(maps, _size(inputs))
        shown = to_display(inputs[samples], self.denormalize)
        headers = ["input", *(f"head {h}" for h in range(maps.shape[1] - 1)), "mean"]
        for j, k in enumerate(samples):
            images = shown[j : j + 1].expand(maps.shape[1], -1, -1, -1)
            blended = render_attribution(
                maps[j].unsqueeze(1), images, "blended_heat_map", "absolute_value", 0.0
            )
            tiles = enlarge(torch.cat([shown[j : j + 1], blended]), self.image_size)
            panel = titled_row(list(tiles), headers, titles[k])
            sink.add_image(TAGS["attention_cls"](layer=name, k=k), panel, step)


def _with_title(picture: Tensor, title: str) -> Tensor:
    """``picture [3, H, W]`` under a one-line title strip."""
    return torch.cat([text_strip([title], [picture.shape[2]], gap=0), picture], dim=1)


def _size(images: Tensor) -> tuple[int, int]:
    """``(H, W)`` of images ``[N, C, H, W]``."""
    return int(images.shape[-2]), int(images.shape[-1])
