"""AttentionMonitor: per-head attention weights of a transformer on a fixed probe."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn

from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.capture.adapters import ADAPTERS, AttentionAdapter, watch_attention_layers
from lightning_xai.capture.attention import AttentionFn, call_attention_fn, capture_attention
from lightning_xai.figures.attention import AttentionPictures
from lightning_xai.figures.titles import probe_titles
from lightning_xai.inputs import ModelInputs
from lightning_xai.metrics.attention import attention_entropy
from lightning_xai.render import Denormalize
from lightning_xai.render.tokens import Vocabulary, check_vocabulary
from lightning_xai.tags import TAGS, chart_pattern
from lightning_xai.validators import (
    check_callable,
    check_count,
    check_names,
    check_pair,
    check_positions,
    named_errors,
)

__all__ = ["AttentionMonitor"]

_OWNER = "AttentionMonitor"


class AttentionMonitor(ProbeMonitor):
    """Draws the per-head attention weights of a transformer's layers on the probe.

    Attach it to an unchanged ``Trainer``; it needs a validation loop. On global rank zero,
    after every ``every_n_epochs``-th validation epoch (never the sanity check) and after
    ``trainer.validate()`` / ``trainer.test()``, it runs the probe through the model once, with
    grad off and in eval mode, recording each watched layer's per-head weights even where the
    model asks for none, see :func:`~lightning_xai.capture.attention.capture_attention`.
    Implementations: ``nn.MultiheadAttention`` (PyTorch's encoders, torchvision's ViT),
    Hugging Face models (the eager implementation and ``output_attentions`` for the pass, the
    configuration restored), timm's ``Attention`` (weights computed beside the fused kernel),
    and anything else through ``attention_fn``. It logs at step ``trainer.global_step`` one
    heat map per head for each drawn sample and layer (query rows x key columns, token labels),
    for image inputs the CLS query's attention over the patch grid, a model view of every layer
    and head per sample, and the attention entropy per layer and head (tags:
    ``xai/attention/<layer>/sample_<k>``, ...; the README's "Tag layout" lists them all).

    ``<layer>`` is the dotted module name as ``pl_module.get_submodule`` takes it
    (``net.encoder.layers.0.self_attn``). Labels: for token-id inputs ``[N, L]`` whose layer
    attends over the ``L`` input positions, the tokens' strings (``vocabulary``; ids without
    one), with ``pad_id`` positions left out of the picture; otherwise position numbers. Axes
    longer than ``max_labels`` get no labels. For image inputs ``[N, C, H, W]`` the patch grid
    is ``patch_grid`` or inferred (a grid with the image's aspect ratio after the CLS token, no
    token, CLS and a distillation token, or CLS and 4 register tokens).

    Args:
        layers: dotted names of attention layers; default: every one found (or every name
            ``attention_fn`` returns).
        samples: positions in the probe whose attention is drawn.
        vocabulary: token strings by id (a list, or a mapping id -> string).
        pad_id: token id of padding, left out of the heat maps.
        query: the query position drawn over the image (the CLS token; default 0).
        patch_grid: ``(rows, cols)`` of the patch tokens, the last ``rows * cols`` keys.
        denormalize: ``(mean, std)`` or a callable to show image inputs; default: min-max.
        max_labels: axes with more tokens are drawn without labels.
        image_size: image inputs are enlarged (nearest) to at least this many pixels a side.
        attention_fn: ``(model, inputs) -> {layer_name: weights [N, H, L, S]}`` replaces the
            hooks, for implementations not listed above; ``inputs`` is the probe's tensor (a
            :class:`~lightning_xai.inputs.ModelInputs` for several inputs or extra arguments).
        **kwargs: the options of every monitor, see
            :class:`~lightning_xai.callbacks.base.ProbeMonitor`.

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
        attention_fn: AttentionFn | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with named_errors(_OWNER):
            self.layers = check_names("layers", layers)
            self.samples = check_positions("samples", samples, self.probe.size)
            check_vocabulary(vocabulary, pad_id)
            check_count("query", query, minimum=0)
            check_count("max_labels", max_labels, minimum=0)
            check_count("image_size", image_size)
            grid = check_pair("patch_grid", patch_grid)
            check_callable("attention_fn", attention_fn, "(model, inputs) -> {name: [N, H, L, S]}")
        self.attention_fn = attention_fn
        self._pictures = AttentionPictures(
            vocabulary, pad_id, query, grid, denormalize, max_labels, image_size, self._warn_once
        )
        self.latest: dict[str, Tensor] = {}
        self._watched: dict[str, tuple[AttentionAdapter, nn.Module]] = {}

    def _state_key_fields(self) -> dict[str, Any]:
        return {**super()._state_key_fields(), "layers": self.layers, "samples": self.samples}

    def _chart_layout(self) -> dict[str, str]:
        return {"attention entropy per layer": chart_pattern("attention_entropy")}

    def _bind(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.attention_fn is not None:
            return  # its names are checked on the probe, see _check_probe
        self._watched = watch_attention_layers(pl_module, self.layers)
        if not self._watched:
            kinds = ", ".join(adapter.name for adapter in ADAPTERS)
            raise MisconfigurationException(
                f"{_OWNER}: {type(pl_module).__name__} has no attention layer to watch ({kinds}); "
                "pass `attention_fn=` for another implementation, or remove the callback."
            )

    def _check_probe(self, pl_module: pl.LightningModule) -> None:
        if self.attention_fn is not None:
            self._call_attention_fn(pl_module, self.probe.batch.head(1))

    def _call_attention_fn(self, model: nn.Module, batch: ModelInputs) -> dict[str, Tensor]:
        assert self.attention_fn is not None
        inputs = batch.first if batch.plain else batch
        return call_attention_fn(self.attention_fn, model, inputs, self.layers)

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        batch = self.probe.batch.map(Tensor.clone, extra=True)
        inputs = batch.first
        samples = [k for k in self.samples if k < inputs.shape[0]]
        if self.attention_fn is None:
            captured, outputs, reused = capture_attention(
                pl_module, self._watched, batch, lambda weights: _summarise(weights, samples)
            )
        else:
            returned = self._call_attention_fn(pl_module, batch)
            captured = {name: _summarise(w, samples) for name, w in returned.items()}
            outputs, reused = None, []
        self._warn_reused(reused)
        for name in self._watched if self.attention_fn is None else ():
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
        everyone = probe_titles(outputs, None, labels, inputs.shape[0], trainer.current_epoch)
        titles = {k: everyone[k] for k in samples}
        writer = self.writer
        for name, capture in captured.items():
            entropy = capture["entropy"]
            writer.add_scalar(TAGS["attention_entropy"](layer=name), float(entropy.mean()), step)
            for head, value in enumerate(entropy.tolist()):
                tag = TAGS["attention_head_entropy"](layer=name, head=head)
                writer.add_scalar(tag, value, step)
            log = self._pictures.log
            writer.submit(
                partial(log, writer, step, name, capture["weights"], cpu, samples, titles)
            )
        drawn = {name: capture["weights"] for name, capture in captured.items()}
        view = self._pictures.log_model_view
        writer.submit(partial(view, writer, step, drawn, samples, titles))


def _summarise(weights: Tensor, samples: list[int]) -> dict[str, Any]:
    """Keeps the drawn samples' weights on the CPU and the entropy per head over the probe."""
    kept = [k for k in samples if k < weights.shape[0]]
    return {
        "weights": weights[kept].float().cpu().clone(),
        "entropy": attention_entropy(weights).cpu(),
    }
