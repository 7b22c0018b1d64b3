"""FeatureMapMonitor: convolution filters, feature maps and layer health during training."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn

from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.capture.feature_maps import capture_outputs, find_conv_layers, summarise_output
from lightning_xai.figures.feature_maps import FeatureMapPictures
from lightning_xai.metrics.activations import weight_norm
from lightning_xai.render import colormap as lookup_colormap
from lightning_xai.render.grid import KERNEL_VIEWS, NORMALIZATIONS, select_channels
from lightning_xai.tags import TAGS, chart_pattern
from lightning_xai.validators import (
    check_callable,
    check_choice,
    check_count,
    check_names,
    check_positions,
    named_errors,
    resolve_callable,
)

__all__ = ["FeatureMapMonitor"]

_OWNER = "FeatureMapMonitor"


class FeatureMapMonitor(ProbeMonitor):
    """Draws the kernels and feature maps of convolution layers and logs their health.

    Attach it to an unchanged ``Trainer``; it needs a validation loop. On global rank zero,
    after every ``every_n_epochs``-th validation epoch (never the sanity check) and after
    ``trainer.validate()`` / ``trainer.test()``, it runs the probe through the model once, with
    grad off, in eval mode and with forward hooks on the watched layers (removed afterwards),
    and logs at step ``trainer.global_step`` a grid of each watched layer's kernels, its feature
    maps for each drawn sample, its health (dead channels, sparsity, mean activation, weight
    norm) and weight and activation histograms (tags: ``xai/filters/<layer>``,
    ``xai/feature_maps/<layer>/sample_<k>``, ...; the README's "Tag layout" lists them all).

    ``<layer>`` is the dotted module name as ``pl_module.get_submodule`` takes it
    (``net.cn1``). Kernels: an RGB tile per output channel when a Conv2d takes 3 inputs;
    otherwise ``kernel_view="slices"`` draws one row per output channel with one tile per input
    channel (the first ``max_kernel_inputs``), ``"mean"`` one tile per output channel (mean over
    inputs). Feature maps show the layer's raw output; Conv2d maps are a square-ish grid,
    Conv1d maps are channels x length (one strip per channel). Tiles are min-max scaled per
    tile or per layer (``normalize``; 1x1 kernels always per layer), enlarged by an integer
    factor towards ``tile_size`` pixels and separated by 1-pixel blue lines.

    The health scalars and the channel ranking see ``activation(output)`` (default ReLU: a
    channel is dead when a ReLU after the layer silences it on the whole probe); pass
    ``activation=None`` to judge the raw output, e.g. when a BatchNorm follows the layer.
    With more than ``max_channels`` output channels, the most active channels (largest mean
    ``|activation(output)|`` over the probe, chosen afresh at every run) are shown in channel
    order, in the feature maps and in the filter grid alike.

    Args:
        layers: dotted names of ``Conv1d``/``Conv2d`` layers; default: every one in the model.
        samples: positions in the probe whose feature maps are drawn (``()``: none).
        max_channels: most channels shown per grid; ``None`` shows all.
        normalize: ``"tile"`` or ``"layer"``.
        kernel_view: ``"slices"`` or ``"mean"``.
        max_kernel_inputs: input slices drawn per output channel with ``"slices"``.
        activation: ``Tensor -> Tensor`` applied before the health scalars, or ``None``; a
            string names a function of ``torch`` (default ``"relu"``: ``torch.relu``) or an
            import path (``"torch.tanh"``), as LightningCLI config files write it.
        tile_size: target tile side in pixels.
        colormap: colormap name for single-channel tiles (e.g. ``"viridis"``); ``None``: grey.
        histograms: log weight and activation histograms.
        **kwargs: the options of every monitor, see
            :class:`~lightning_xai.callbacks.base.ProbeMonitor`.

    Example:
        >>> monitor = FeatureMapMonitor(layers=["net.cn1", "net.cn2"], max_channels=32)
        >>> trainer = pl.Trainer(callbacks=[monitor])  # doctest: +SKIP
        >>> trainer.fit(model, datamodule)  # doctest: +SKIP
        >>> monitor.latest["net.cn2"]["health"]["dead_fraction"]  # doctest: +SKIP
        0.0625
    """

    _needs_grad = False

    def __init__(
        self,
        layers: Sequence[str] | str | None = None,
        *,
        samples: Sequence[int] = (0, 1),
        max_channels: int | None = 64,
        normalize: str = "tile",
        kernel_view: str = "slices",
        max_kernel_inputs: int = 8,
        activation: str | Callable[[Tensor], Tensor] | None = "relu",
        tile_size: int = 32,
        colormap: str | None = None,
        histograms: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with named_errors(_OWNER):
            self.layers = check_names("layers", layers)
            self.samples = check_positions("samples", samples, self.probe.size)
            check_count("max_channels", max_channels, allow_none=True)
            check_count("max_kernel_inputs", max_kernel_inputs)
            check_count("tile_size", tile_size)
            check_choice("normalize", normalize, NORMALIZATIONS)
            check_choice("kernel_view", kernel_view, KERNEL_VIEWS)
            resolved = resolve_callable("activation", activation)
            check_callable("activation", resolved, "Tensor -> Tensor")
            if colormap is not None:
                try:
                    lookup_colormap(colormap)
                except ValueError as err:
                    raise ValueError(f"`colormap`: {err}") from None
        self.max_channels = max_channels
        self.normalize = normalize
        self.kernel_view = kernel_view
        self.max_kernel_inputs = max_kernel_inputs
        self.activation = resolved
        self.tile_size = tile_size
        self.colormap = colormap
        self.histograms = bool(histograms)
        self._pictures = FeatureMapPictures(
            normalize, kernel_view, max_kernel_inputs, tile_size, colormap, self.histograms
        )
        self.latest: dict[str, dict[str, Any]] = {}
        self._watched: dict[str, nn.Conv1d | nn.Conv2d] = {}

    def _state_key_fields(self) -> dict[str, Any]:
        return {
            **super()._state_key_fields(),
            "layers": self.layers,
            "samples": self.samples,
            "view": (self.max_channels, self.normalize, self.kernel_view),
        }

    def _chart_layout(self) -> dict[str, str]:
        return {
            f"{scalar} per layer": chart_pattern("health", scalar=scalar)
            for scalar in ("dead_fraction", "sparsity", "mean_activation", "weight_norm")
        }

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._watched = find_conv_layers(pl_module, self.layers)
        if not self._watched:
            raise MisconfigurationException(
                f"{_OWNER}: {type(pl_module).__name__} has no Conv1d or Conv2d layer to watch; "
                "remove the callback."
            )

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        batch = self.probe.batch.map(Tensor.clone, extra=True)
        samples = [k for k in self.samples if k < batch.size]
        if len(samples) < len(self.samples):
            self._warn_once(
                "samples",
                f"the probe holds {batch.size} samples; `samples` {self.samples} beyond it "
                "are skipped.",
            )
        captured, reused = capture_outputs(
            pl_module,
            self._watched,
            batch,
            lambda out: summarise_output(out, samples, self.activation, self.histograms),
        )
        self._warn_reused(reused)
        latest: dict[str, dict[str, Any]] = {}
        writer = self.writer
        for name, module in self._watched.items():
            if name not in captured:
                self._warn_once(f"ran-{name}", f"layer {name!r} did not run on the probe.")
                continue
            capture = captured[name]
            weight = module.weight.detach().float().cpu().clone()  # the writer draws it later
            if not capture["finite"] or not torch.isfinite(weight).all():  # counted, not drawn
                error = FloatingPointError(f"layer {name!r}: NaN or inf in its weights or outputs")
                self._failed(name, error, step)
                continue
            channels = select_channels(capture["scores"], self.max_channels)
            health = {**capture["health"], "weight_norm": float(weight_norm(weight))}
            latest[name] = {"health": health, "channels": channels}
            for key, value in health.items():
                writer.add_scalar(TAGS["health"](layer=name, scalar=key), value, step)
            log = self._pictures.log
            writer.submit(
                partial(log, writer, step, name, weight, capture, channels, samples, latest[name])
            )
        self.latest = latest
