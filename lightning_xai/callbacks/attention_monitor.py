"""AttentionMonitor: attention weights of ``nn.MultiheadAttention`` layers on a fixed probe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn

from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.capture.attention import capture_attention
from lightning_xai.metrics.attention import attention_entropy
from lightning_xai.probe import BatchTransform, ProbeSamples
from lightning_xai.render import Denormalize, enlarge, render_attribution, titled_row, to_display
from lightning_xai.render.attention import (
    attention_matrix,
    cls_attention_maps,
    infer_patch_grid,
    upsample_maps,
)
from lightning_xai.render.tokens import Vocabulary, check_vocabulary, token_labels

__all__ = ["AttentionMonitor"]


class AttentionMonitor(ProbeMonitor):
    """Draws the per-head attention weights of ``nn.MultiheadAttention`` layers on the probe.

    Attach it to an unchanged ``Trainer``; it needs a validation loop. On global rank zero,
    after every ``every_n_epochs``-th validation epoch (never the sanity check) and after
    ``trainer.validate()`` / ``trainer.test()``, it runs the probe through the model once, with
    grad off and in eval mode, recording each watched layer's per-head weights even where the
    model asks for none (``nn.TransformerEncoderLayer``), see
    :func:`~lightning_xai.capture.attention.capture_attention`. It logs at step
    ``trainer.global_step``:

    ==============================================  ===========================================
    tag                                             content
    ==============================================  ===========================================
    ``xai/attention/<layer>/sample_<k>``            one heat map per head, query rows x key
                                                    columns (each scaled by its maximum), token
                                                    labels on both axes; title: label, prediction
    ``xai/attention/<layer>/cls/sample_<k>``        image inputs: the input beside the attention
                                                    of the CLS query over the patch grid, per
                                                    head and averaged, blended over the image
    ``xai/attention/<layer>/entropy``               mean entropy of the attention rows over the
                                                    probe, heads and queries (nats; 0 = focused)
    ``xai/errors/<layer>``                          failures so far (only once one happened)
    ==============================================  ===========================================

    ``<layer>`` is the dotted module name as ``pl_module.get_submodule`` takes it
    (``net.encoder.layers.0.self_attn``). Labels: for token-id inputs ``[N, L]`` whose layer
    attends over the ``L`` input positions, the tokens' strings (``vocabulary``; ids without
    one), with ``pad_id`` positions left out of the picture; otherwise position numbers. Axes
    longer than ``max_labels`` get no labels. For image inputs ``[N, C, H, W]`` the patch grid
    is ``patch_grid`` or inferred (one CLS token, then a grid with the image's aspect ratio).

    Args:
        layers: dotted names of ``nn.MultiheadAttention`` modules; default: every one.
        samples: positions in the probe whose attention is drawn.
        vocabulary: token strings by id (a list, or a mapping id -> string).
        pad_id: token id of padding, left out of the heat maps.
        query: the query position drawn over the image (the CLS token; default 0).
        patch_grid: ``(rows, cols)`` of the patch tokens, the last ``rows * cols`` keys.
        denormalize: ``(mean, std)`` or a callable to show image inputs; default: min-max.
        max_labels: axes with more tokens are drawn without labels.
        image_size: image inputs are enlarged (nearest) to at least this many pixels a side.
        **kwargs: probe, schedule and fault options of
            :class:`~lightning_xai.callbacks.base.ProbeMonitor` (``num_probes``,
            ``probe_seed``, ``probe``, ``batch_transform``, ``every_n_epochs``, ``on_error``,
            ``background_writes``, ``name``).

    Example:
        >>> monitor = AttentionMonitor(vocabulary=vocab, pad_id=0)  # doctest: +SKIP
        >>> trainer = pl.Trainer(callbacks=[monitor])  # doctest: +SKIP
        >>> trainer.fit(model, datamodule)  # doctest: +SKIP
        >>> monitor.latest["net.encoder.layers.0.self_attn"].shape  # doctest: +SKIP
        torch.Size([2, 4, 12, 12])
    """

    _needs_grad = False

    def __init__(
        self,
        layers: Sequence[str] | str | None = None,
        *,
        samples: Sequence[int] = (0, 1),
        vocabulary: Vocabulary | None = None,
        pad_id: int | None = None,
        query: int = 0,
        patch_grid: tuple[int, int] | None = None,
        denormalize: Denormalize = None,
        max_labels: int = 48,
        image_size: int = 112,
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
        if isinstance(layers, str):
            layers = [layers]
        if layers is not None and (
            not isinstance(layers, Sequence) or not all(isinstance(n, str) for n in layers)
        ):
            raise TypeError(
                "AttentionMonitor: `layers` must be a list of dotted layer names (str) or None, "
                f"got {layers!r}."
            )
        if layers is not None and (not layers or len(set(layers)) != len(layers)):
            raise ValueError(
                f"AttentionMonitor: `layers` must name distinct layers (or be None), got {layers}."
            )
        size = self.probe.size or num_probes
        if not isinstance(samples, Sequence) or not all(_is_int(k) for k in samples):
            raise TypeError(
                f"AttentionMonitor: `samples` must be a list of probe positions, got {samples!r}."
            )
        if len(set(samples)) != len(samples) or not all(0 <= k < size for k in samples):
            raise ValueError(
                f"AttentionMonitor: `samples` must be distinct positions in [0, {size}) (the "
                f"probe size), got {list(samples)}."
            )
        check_vocabulary(vocabulary, pad_id, "AttentionMonitor")
        for name, value in (("query", query), ("max_labels", max_labels)):
            if not _is_int(value) or value < 0:
                raise ValueError(f"AttentionMonitor: `{name}` must be an int >= 0, got {value!r}.")
        if patch_grid is not None and (
            not isinstance(patch_grid, Sequence)
            or len(patch_grid) != 2
            or not all(_is_int(v) and v > 0 for v in patch_grid)
        ):
            raise ValueError(
                "AttentionMonitor: `patch_grid` must be (rows, cols) of positive ints or None, "
                f"got {patch_grid!r}."
            )
        if not _is_int(image_size) or image_size < 1:
            raise ValueError(f"AttentionMonitor: `image_size` must be >= 1, got {image_size!r}.")
        self.layers = None if layers is None else list(layers)
        self.samples = list(samples)
        self.vocabulary = vocabulary
        self.pad_id = pad_id
        self.query = query
        self.patch_grid = None if patch_grid is None else (int(patch_grid[0]), int(patch_grid[1]))
        self.denormalize = denormalize
        self.max_labels = max_labels
        self.image_size = image_size
        self.latest: dict[str, Tensor] = {}
        self._watched: dict[str, nn.MultiheadAttention] = {}

    def _state_key_fields(self) -> dict[str, Any]:
        return {**super()._state_key_fields(), "layers": self.layers, "samples": self.samples}

    def _chart_layout(self) -> dict[str, str]:
        return {"attention entropy per layer": r"xai/attention/.+/entropy$"}

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        found = [n for n, m in pl_module.named_modules() if isinstance(m, nn.MultiheadAttention)]
        if self.layers is None and not found:
            raise MisconfigurationException(
                f"AttentionMonitor: {type(pl_module).__name__} has no nn.MultiheadAttention "
                "layer to watch; remove the callback."
            )
        watched = {}
        for name in self.layers or found:
            try:
                module = pl_module.get_submodule(name)
            except AttributeError:
                module = None
            if not isinstance(module, nn.MultiheadAttention):
                what = "not a submodule" if module is None else f"a {type(module).__name__}"
                raise ValueError(
                    f"AttentionMonitor: `layers` names {name!r}, {what} of "
                    f"{type(pl_module).__name__}; MultiheadAttention layers: {found}."
                )
            watched[name] = module
        self._watched = watched

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        batch = self.probe.batch.map(Tensor.clone, extra=True)
        inputs = batch.first
        samples = [k for k in self.samples if k < inputs.shape[0]]
        captured, outputs, reused = capture_attention(
            pl_module, self._watched, batch, lambda weights: _summarise(weights, samples)
        )
        for name in reused:
            self._warn_once(
                f"reused-{name}",
                f"layer {name!r} runs more than once per forward; its first call is shown.",
            )
        for name in self._watched:
            if name not in captured:
                self._warn_once(
                    f"ran-{name}",
                    f"layer {name!r} returned no [N, H, L, S] attention weights on the probe "
                    "(not called, or called per sample).",
                )
        self.latest = {name: c["weights"] for name, c in captured.items()}
        cpu = inputs.cpu()
        labels = None if self.probe.labels is None else self.probe.labels.cpu()
        outputs = outputs.detach().float().cpu() if isinstance(outputs, Tensor) else None
        titles = {k: _title(k, outputs, labels) for k in samples}
        for name, capture in captured.items():
            self.writer.add_scalar(f"xai/attention/{name}/entropy", capture["entropy"], step)
            self.writer.submit(
                lambda n=name, c=capture: self._log_layer(n, c, cpu, samples, titles, step)
            )

    def _log_layer(
        self,
        name: str,
        capture: dict[str, Any],
        inputs: Tensor,
        samples: list[int],
        titles: dict[int, str],
        step: int,
    ) -> None:
        """Renders and writes one layer's pictures (on the writer's thread)."""
        weights = capture["weights"]  # [samples, H, L, S]
        heads = weights.shape[1]
        headers = [f"head {h}" for h in range(heads)]
        for j, k in zip(range(weights.shape[0]), samples, strict=False):
            rows, cols, row_labels, col_labels = self._axes(inputs[k], *weights.shape[2:])
            tiles = [
                attention_matrix(weights[j, h][rows][:, cols], row_labels, col_labels)
                for h in range(heads)
            ]
            panel = titled_row(tiles, headers, titles[k])
            self.writer.add_image(f"xai/attention/{name}/sample_{k:02d}", panel, step)
        if inputs.ndim == 4:
            self._log_cls_maps(name, weights, inputs, samples, titles, step)

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
        name: str,
        weights: Tensor,
        inputs: Tensor,
        samples: list[int],
        titles: dict[int, str],
        step: int,
    ) -> None:
        grid = self.patch_grid or infer_patch_grid(weights.shape[-1], tuple(inputs.shape[-2:]))
        if grid is None or grid[0] * grid[1] > weights.shape[-1]:
            self._warn_once(
                f"grid-{name}",
                f"layer {name!r} attends over {weights.shape[-1]} keys, which fit no patch grid "
                "for the image; pass `patch_grid=(rows, cols)` to draw its CLS maps.",
            )
            return
        maps = cls_attention_maps(weights, grid, self.query)  # [samples, H, r, c]
        maps = torch.cat([maps, maps.mean(dim=1, keepdim=True)], dim=1)
        maps = upsample_maps(maps, tuple(inputs.shape[-2:]))
        shown = to_display(inputs[samples], self.denormalize)
        headers = ["input", *(f"head {h}" for h in range(maps.shape[1] - 1)), "mean"]
        for j, k in enumerate(samples):
            images = shown[j : j + 1].expand(maps.shape[1], -1, -1, -1)
            blended = render_attribution(
                maps[j].unsqueeze(1), images, "blended_heat_map", "absolute_value", 0.0
            )
            tiles = enlarge(torch.cat([shown[j : j + 1], blended]), self.image_size)
            panel = titled_row(list(tiles), headers, titles[k])
            self.writer.add_image(f"xai/attention/{name}/cls/sample_{k:02d}", panel, step)


def _summarise(weights: Tensor, samples: list[int]) -> dict[str, Any]:
    """Keeps the drawn samples' weights on the CPU and the entropy over the whole probe."""
    kept = [k for k in samples if k < weights.shape[0]]
    return {
        "weights": weights[kept].float().cpu().clone(),
        "entropy": float(attention_entropy(weights).mean()),
    }


def _title(k: int, outputs: Tensor | None, labels: Tensor | None) -> str:
    parts = [f"#{k}"]
    if labels is not None and labels.ndim == 1:
        parts.append(f"label {labels[k].item()}")
    if outputs is not None and outputs.ndim == 2 and outputs.shape[1] > 1:
        probs = outputs[k].softmax(dim=0)
        pred = int(probs.argmax())
        parts.append(f"pred {pred} ({float(probs[pred]):.2f})")
    return " | ".join(parts)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
