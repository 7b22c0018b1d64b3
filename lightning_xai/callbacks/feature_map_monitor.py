"""FeatureMapMonitor: convolution filters, feature maps and layer health during training."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn

from lightning_xai.callbacks.base import ProbeMonitor, SinksArg
from lightning_xai.capture.feature_maps import capture_outputs, summarise_output
from lightning_xai.figures.feature_maps import FeatureMapPictures
from lightning_xai.metrics.activations import weight_norm
from lightning_xai.probe import BatchTransform, ProbeSamples
from lightning_xai.render import colormap as lookup_colormap
from lightning_xai.render.grid import KERNEL_VIEWS, NORMALIZATIONS, select_channels
from lightning_xai.tags import TAGS, chart_pattern
from lightning_xai.validators import (
    check_callable,
    check_choice,
    check_count,
    check_names,
    check_positions,
    resolve_callable,
)

__all__ = ["FeatureMapMonitor"]

_CONV = (nn.Conv1d, nn.Conv2d)
_OWNER = "FeatureMapMonitor"


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
        activation: ``Tensor -> Tensor`` applied before the health scalars, or ``None``; a
            string names a function of ``torch`` (default ``"relu"``: ``torch.relu``) or an
            import path (``"torch.tanh"``), as LightningCLI config files write it.
        tile_size: target tile side in pixels.
        colormap: colormap name for single-channel tiles (e.g. ``"viridis"``); ``None``: grey.
        histograms: log weight and activation histograms.
        **kwargs: probe, schedule and fault options of
            :class:`~lightning_xai.callbacks.base.ProbeMonitor` (``num_probes``,
            ``probe_seed``, ``probe``, ``batch_transform``, ``every_n_epochs``, ``on_error``,
            ``background_writes``, ``sinks``, ``name``).

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
        num_probes: int = 16,
        probe_seed: int = 0,
        probe: ProbeSamples | None = None,
        batch_transform: BatchTransform | None = None,
        every_n_epochs: int = 1,
        on_error: str = "warn",
        background_writes: bool = True,
        sinks: SinksArg = None,
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
            sinks=sinks,
            name=name,
        )
        self.layers = check_names(_OWNER, "layers", layers)
        size = self.probe.size or len(self.probe.indices)
        self.samples = check_positions(_OWNER, "samples", samples, size or num_probes)
        check_count(_OWNER, "max_channels", max_channels, allow_none=True)
        check_count(_OWNER, "max_kernel_inputs", max_kernel_inputs)
        check_count(_OWNER, "tile_size", tile_size)
        check_choice(_OWNER, "normalize", normalize, NORMALIZATIONS)
        check_choice(_OWNER, "kernel_view", kernel_view, KERNEL_VIEWS)
        resolved: Callable[[Tensor], Tensor] | None = resolve_callable(
            _OWNER, "activation", activation
        )
        check_callable(_OWNER, "activation", resolved, "Tensor -> Tensor")
        if colormap is not None:
            try:
                lookup_colormap(colormap)
            except ValueError as err:
                raise ValueError(f"{_OWNER}: `colormap`: {err}") from None
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
        captured, reused = capture_outputs(
            pl_module,
            self._watched,
            batch,
            lambda out: summarise_output(out, samples, self.activation, self.histograms),
        )
        for name in reused:
            self._warn_once(
                f"reused-{name}",
                f"layer {name!r} runs more than once per forward; its first call is shown.",
            )
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
            if channels.numel() < capture["scores"].numel():
                shown = ", ".join(str(c) for c in channels.tolist())
                tag = TAGS["feature_map_channels"](layer=name)
                writer.add_text(tag, f"channels shown: {shown}", step)
            for key, value in health.items():
                writer.add_scalar(TAGS["health"](layer=name, scalar=key), value, step)
            log = self._pictures.log
            writer.submit(
                partial(log, writer, step, name, weight, capture, channels, samples, latest[name])
            )
        self.latest = latest
