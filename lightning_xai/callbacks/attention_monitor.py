"""AttentionMonitor: per-head attention weights of a transformer on a fixed probe."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn

from lightning_xai.callbacks.base import ProbeMonitor, SinksArg
from lightning_xai.capture.adapters import ADAPTERS, AttentionAdapter, find_attention_layers
from lightning_xai.capture.attention import AttentionFn, call_attention_fn, capture_attention
from lightning_xai.figures.attention import AttentionPictures
from lightning_xai.figures.titles import probe_titles
from lightning_xai.inputs import ModelInputs
from lightning_xai.metrics.attention import attention_entropy
from lightning_xai.probe import BatchTransform, ProbeSamples
from lightning_xai.render import Denormalize
from lightning_xai.render.tokens import Vocabulary, check_vocabulary
from lightning_xai.tags import TAGS, chart_pattern
from lightning_xai.validators import check_count, check_names, check_positions, is_int

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
    and anything else through ``attention_fn``. It logs at step ``trainer.global_step``:

    ==============================================  ===========================================
    tag                                             content
    ==============================================  ===========================================
    ``xai/attention/<layer>/sample_<k>``            one heat map per head, query rows x key
                                                    columns (each scaled by its maximum), token
                                                    labels on both axes; title: label, prediction
    ``xai/attention/<layer>/cls/sample_<k>``        image inputs: the input beside the attention
                                                    of the CLS query over the patch grid, per
                                                    head and averaged, blended over the image
    ``xai/attention_model/sample_<k>``              every layer (rows) and head (columns) of
                                                    sample k in one picture (the model view)
    ``xai/attention/<layer>/entropy``               mean entropy of the attention rows over the
                                                    probe, heads and queries (nats; 0 = focused)
    ``xai/attention/<layer>/entropy/head_<h>``      the same per head
    ``xai/errors/<layer>``                          failures so far (only once one happened)
    ==============================================  ===========================================

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
        **kwargs: probe, schedule and fault options of
            :class:`~lightning_xai.callbacks.base.ProbeMonitor` (``num_probes``,
            ``probe_seed``, ``probe``, ``batch_transform``, ``every_n_epochs``, ``on_error``,
            ``background_writes``, ``sinks``, ``name``).

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
        self.samples = check_positions(_OWNER, "samples", samples, self.probe.size or num_probes)
        check_vocabulary(vocabulary, pad_id, _OWNER)
        for name, value in (("query", query), ("max_labels", max_labels)):
            if not is_int(value) or value < 0:
                raise ValueError(f"{_OWNER}: `{name}` must be an int >= 0, got {value!r}.")
        if patch_grid is not None and (
            not isinstance(patch_grid, Sequence)
            or len(patch_grid) != 2
            or not all(is_int(v) and v > 0 for v in patch_grid)
        ):
            raise ValueError(
                f"{_OWNER}: `patch_grid` must be (rows, cols) of positive ints or None, got "
                f"{patch_grid!r}."
            )
        check_count(_OWNER, "image_size", image_size)
        if attention_fn is not None and not callable(attention_fn):
            raise TypeError(
                f"{_OWNER}: `attention_fn` must be a callable (model, inputs) -> "
                f"{{layer_name: weights [N, H, L, S]}}, got {type(attention_fn).__name__}."
            )
        self.attention_fn = attention_fn
        grid = None if patch_grid is None else (int(patch_grid[0]), int(patch_grid[1]))
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
        found = find_attention_layers(pl_module)
        if not found:
            kinds = ", ".join(adapter.name for adapter in ADAPTERS)
            raise MisconfigurationException(
                f"{_OWNER}: {type(pl_module).__name__} has no attention layer to watch ({kinds}); "
                "pass `attention_fn=` for another implementation, or remove the callback."
            )
        for name in self.layers or ():
            if name not in found:
                try:
                    what = f"a {type(pl_module.get_submodule(name)).__name__}"
                except AttributeError:
                    what = "not a submodule"
                raise ValueError(
                    f"{_OWNER}: `layers` names {name!r}, {what} of {type(pl_module).__name__}; "
                    f"its attention layers: {list(found)}."
                )
        self._watched = {name: found[name] for name in self.layers or found}

    def _check_probe(self, pl_module: pl.LightningModule) -> None:
        if self.attention_fn is not None:
            self._call_attention_fn(pl_module, self.probe.batch.head(1))

    def _call_attention_fn(self, model: nn.Module, batch: ModelInputs) -> dict[str, Tensor]:
        assert self.attention_fn is not None
        inputs = batch.first if batch.plain else batch
        return call_attention_fn(self.attention_fn, model, inputs, self.layers, _OWNER)

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
        for name in reused:
            self._warn_once(
                f"reused-{name}",
                f"layer {name!r} runs more than once per forward; its first call is shown.",
            )
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
