"""FeatureMapMonitor: convolution filters, feature maps and layer health during training."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn

from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.inputs import ModelInputs
from lightning_xai.metrics.activations import (
    channel_activity,
    dead_channel_fraction,
    mean_activation,
    sparsity,
    weight_norm,
)
from lightning_xai.probe import BatchTransform, ProbeSamples
from lightning_xai.render import colormap as _lookup_colormap
from lightning_xai.render.grid import (
    KERNEL_VIEWS,
    NORMALIZATIONS,
    feature_map_tiles,
    fit_scale,
    kernel_tiles,
    select_channels,
    tile_grid,
)

__all__ = ["FeatureMapMonitor"]

_CONV = (nn.Conv1d, nn.Conv2d)
_HISTOGRAM_VALUES = 1 << 16  # activation histograms take at most this many (evenly strided) values


class FeatureMapMonitor(ProbeMonitor):
    """Draws the kernels and feature maps of convolution layers and logs their health.

    Attach it to an unchanged ``Trainer``; it needs a validation loop. On global rank zero,
    after every ``every_n_epochs``-th validation epoch (never the sanity check) and after
    ``trainer.validate()`` / ``trainer.test()``, it runs the probe through the model once, with
    grad off, in eval mode and with forward hooks on the watched layers (removed afterwards),
    and logs at step ``trainer.global_step``:

    ============================================  =============================================
    tag                                           content
    ============================================  =============================================
    ``xai/filters/<layer>``                       grid of the layer's kernels (image)
    ``xai/feature_maps/<layer>/sample_<k>``       grid of the layer's output for probe sample k
    ``xai/feature_maps/<layer>/channels``         the channels shown, when capped (text)
    ``xai/health/<layer>/dead_fraction``          channels zero on every probe sample/position
    ``xai/health/<layer>/sparsity``               fraction of activation values that are zero
    ``xai/health/<layer>/mean_activation``        mean activation over the probe
    ``xai/health/<layer>/weight_norm``            L2 norm of the layer's weight
    ``xai/histograms/<layer>/weights``            the layer's weight values
    ``xai/histograms/<layer>/activations``        the layer's raw outputs on the probe
    ``xai/errors/<layer>``                        failures so far (only once one happened)
    ============================================  =============================================

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
        activation: ``Tensor -> Tensor`` applied before the health scalars, or ``None``.
        tile_size: target tile side in pixels.
        colormap: colormap name for single-channel tiles (e.g. ``"viridis"``); ``None``: grey.
        histograms: log weight and activation histograms.
        **kwargs: probe, schedule and fault options of
            :class:`~lightning_xai.callbacks.base.ProbeMonitor` (``num_probes``,
            ``probe_seed``, ``probe``, ``batch_transform``, ``every_n_epochs``, ``on_error``).

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
        activation: Callable[[Tensor], Tensor] | None = torch.relu,
        tile_size: int = 32,
        colormap: str | None = None,
        histograms: bool = True,
        num_probes: int = 16,
        probe_seed: int = 0,
        probe: ProbeSamples | None = None,
        batch_transform: BatchTransform | None = None,
        every_n_epochs: int = 1,
        on_error: str = "warn",
        background_writes: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(
            num_probes=num_probes,
            probe_seed=probe_seed,
            probe=probe,
            batch_transform=batch_transform,
            every_n_epochs=every_n_epochs,
            on_error=on_error,
            background_writes=background_writes,
            name=name,
        )
        self.layers = _check_layers(layers)
        size = self.probe.size or len(self.probe.indices)
        self.samples = _check_samples(samples, size or num_probes)
        _check_count("max_channels", max_channels, allow_none=True)
        _check_count("max_kernel_inputs", max_kernel_inputs)
        _check_count("tile_size", tile_size)
        _check_choice("normalize", normalize, NORMALIZATIONS)
        _check_choice("kernel_view", kernel_view, KERNEL_VIEWS)
        if activation is not None and not callable(activation):
            raise TypeError(
                "FeatureMapMonitor: `activation` must be a callable Tensor -> Tensor or None, "
                f"got {type(activation).__name__}."
            )
        if colormap is not None:
            try:
                _lookup_colormap(colormap)
            except ValueError as err:
                raise ValueError(f"FeatureMapMonitor: `colormap`: {err}") from None
        self.max_channels = max_channels
        self.normalize = normalize
        self.kernel_view = kernel_view
        self.max_kernel_inputs = max_kernel_inputs
        self.activation = activation
        self.tile_size = tile_size
        self.colormap = colormap
        self.histograms = bool(histograms)
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
            f"{scalar} per layer": rf"xai/health/.+/{scalar}$"
            for scalar in ("dead_fraction", "sparsity", "mean_activation", "weight_norm")
        }

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        convs = [name for name, m in pl_module.named_modules() if isinstance(m, _CONV)]
        if self.layers is None and not convs:
            raise MisconfigurationException(
                f"FeatureMapMonitor: {type(pl_module).__name__} has no Conv1d or Conv2d layer "
                "to watch; remove the callback."
            )
        watched = {}
        for name in self.layers or convs:
            try:
                module = pl_module.get_submodule(name)
            except AttributeError:
                raise ValueError(
                    f"FeatureMapMonitor: `layers` names {name!r}, which is not a submodule of "
                    f"{type(pl_module).__name__}. Conv layers: {convs}."
                ) from None
            if not isinstance(module, _CONV):
                raise ValueError(
                    f"FeatureMapMonitor: `layers` names {name!r}, a {type(module).__name__}; "
                    f"only Conv1d and Conv2d layers can be drawn. Conv layers: {convs}."
                )
            watched[name] = module
        self._watched = watched

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        batch = self.probe.batch.map(Tensor.clone, extra=True)
        samples = [k for k in self.samples if k < batch.size]
        if len(samples) < len(self.samples):
            self._warn_once(
                "samples",
                f"the probe holds {batch.size} samples; `samples` {self.samples} beyond it "
                "are skipped.",
            )
        captured = self._capture(pl_module, batch, samples)
        latest: dict[str, dict[str, Any]] = {}
        for name, module in self._watched.items():
            if name not in captured:
                self._warn_once(f"ran-{name}", f"layer {name!r} did not run on the probe.")
                continue
            try:
                latest[name] = self._log_layer(name, module, captured[name], samples, step)
            except Exception as err:
                self._failed(name, err, step)
        self.latest = latest

    def _capture(
        self, pl_module: pl.LightningModule, batch: ModelInputs, samples: list[int]
    ) -> dict[str, dict[str, Any]]:
        """One forward pass over the probe; each watched layer's output is summarised in its
        hook (before any in-place op after the layer can change it), then dropped."""
        captured: dict[str, dict[str, Any]] = {}

        def hook_for(name: str) -> Callable[[nn.Module, Any, Tensor], None]:
            def hook(module: nn.Module, args: Any, output: Tensor) -> None:
                if name in captured:
                    self._warn_once(
                        f"reused-{name}",
                        f"layer {name!r} runs more than once per forward; its first call is shown.",
                    )
                    return
                captured[name] = self._summarise(output, samples)

            return hook

        handles = [m.register_forward_hook(hook_for(n)) for n, m in self._watched.items()]
        try:
            with torch.no_grad():
                batch(pl_module)
        finally:
            for handle in handles:
                handle.remove()
        return captured

    def _summarise(self, output: Tensor, samples: list[int]) -> dict[str, Any]:
        out = output.detach()
        active = out if self.activation is None else self.activation(out)
        flat = out.flatten()
        stride = math.ceil(flat.numel() / _HISTOGRAM_VALUES)
        return {
            "scores": channel_activity(active).cpu(),
            "health": {
                "dead_fraction": float(dead_channel_fraction(active)),
                "sparsity": float(sparsity(active)),
                "mean_activation": float(mean_activation(active)),
            },
            "maps": out[samples].float().cpu().clone(),  # [S, C, ...]
            "values": flat[::stride].float().cpu().clone() if self.histograms else None,
            "finite": bool(torch.isfinite(out).all()),
        }

    def _log_layer(
        self,
        name: str,
        module: nn.Conv1d | nn.Conv2d,
        capture: dict[str, Any],
        samples: list[int],
        step: int,
    ) -> dict[str, Any]:
        writer = self.writer
        weight = module.weight.detach().float().cpu()
        if not capture["finite"] or not torch.isfinite(weight).all():  # counted, not drawn
            raise FloatingPointError(f"layer {name!r}: NaN or inf in its weights or outputs")
        channels = select_channels(capture["scores"], self.max_channels)
        health = {**capture["health"], "weight_norm": float(weight_norm(weight))}

        tiles, ncols = kernel_tiles(weight[channels], self.kernel_view, self.max_kernel_inputs)
        single_value = tiles.shape[-2] * tiles.shape[-1] == 1
        filters = self._grid(tiles, ncols, "layer" if single_value else self.normalize)
        maps = {}
        for j, k in enumerate(samples):
            tiles, ncols = feature_map_tiles(capture["maps"][j][channels])
            maps[k] = self._grid(tiles, ncols, self.normalize)

        writer.add_image(f"xai/filters/{name}", filters, step)
        for k, grid in maps.items():
            writer.add_image(f"xai/feature_maps/{name}/sample_{k:02d}", grid, step)
        if channels.numel() < capture["scores"].numel():
            shown = ", ".join(str(c) for c in channels.tolist())
            writer.add_text(f"xai/feature_maps/{name}/channels", f"channels shown: {shown}", step)
        for key, value in health.items():
            writer.add_scalar(f"xai/health/{name}/{key}", value, step)
        if self.histograms:
            writer.add_histogram(f"xai/histograms/{name}/weights", weight, step)
            writer.add_histogram(f"xai/histograms/{name}/activations", capture["values"], step)
        return {"filters": filters, "feature_maps": maps, "health": health, "channels": channels}

    def _grid(self, tiles: Tensor, ncols: int, normalize: str) -> Tensor:
        scale = fit_scale(tiles.shape[-2], tiles.shape[-1], self.tile_size)
        return tile_grid(tiles, ncols, normalize, scale, colormap=self.colormap)


def _check_layers(layers: Sequence[str] | str | None) -> list[str] | None:
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, Sequence) or not all(isinstance(n, str) for n in layers):
        raise TypeError(
            "FeatureMapMonitor: `layers` must be a list of dotted layer names (str) or None, "
            f"got {layers!r}."
        )
    if not layers:
        raise ValueError("FeatureMapMonitor: `layers` is empty; name a layer or pass None (all).")
    duplicates = sorted({n for n in layers if list(layers).count(n) > 1})
    if duplicates:
        raise ValueError(f"FeatureMapMonitor: `layers` names {duplicates} more than once.")
    return list(layers)


def _check_samples(samples: Sequence[int], probe_size: int) -> list[int]:
    if not isinstance(samples, Sequence) or not all(
        isinstance(k, int) and not isinstance(k, bool) for k in samples
    ):
        raise TypeError(
            "FeatureMapMonitor: `samples` must be a list of probe positions (int), got "
            f"{samples!r}."
        )
    bad = [k for k in samples if not 0 <= k < probe_size]
    if bad or len(set(samples)) != len(samples):
        raise ValueError(
            f"FeatureMapMonitor: `samples` must be distinct positions in [0, {probe_size}) "
            f"(the probe size), got {list(samples)}."
        )
    return list(samples)


def _check_count(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        hint = " or None" if allow_none else ""
        raise TypeError(
            f"FeatureMapMonitor: `{name}` must be a positive int{hint}, got {type(value).__name__}."
        )
    if value < 1:
        raise ValueError(f"FeatureMapMonitor: `{name}` must be >= 1, got {value}.")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            f"FeatureMapMonitor: `{name}` must be one of {list(choices)}, got {value!r}."
        )
