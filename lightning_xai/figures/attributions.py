"""The pictures of one AttributionMonitor run: heat maps over images, bar charts of tables,
token strips, panels; rendered and written on the writer's thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from lightning_xai.figures.feature_charts import log_feature_charts
from lightning_xai.figures.scales import SCALES
from lightning_xai.figures.titles import probe_titles
from lightning_xai.figures.tokens import log_token_attributions
from lightning_xai.inputs import ModelInputs
from lightning_xai.methods.registry import MethodSpec
from lightning_xai.methods.results import Attribution
from lightning_xai.render import (
    SIGNS,
    VIEWS,
    Denormalize,
    enlarge,
    render_attribution,
    title_size,
    titled_rows,
    to_display,
    to_uint8,
)
from lightning_xai.render.colorbar import colorbars, negligible
from lightning_xai.render.heatmap import attribution_scale, colour_range, resolve_sign
from lightning_xai.sinks import Sink
from lightning_xai.tags import TAGS, panel_tag
from lightning_xai.token_text import TokenText
from lightning_xai.validators import check_choice

__all__ = ["AttributionPictures", "check_drawing", "default_outlier_perc"]


@dataclass(frozen=True)
class AttributionPictures:
    """How one monitor draws its attributions, and the drawing.

    Attributes:
        tags: method key -> tag (``integrated_gradients``).
        outlier_perc: method key -> percentage of the attribution mass saturated.
        unit_keys: keys of layer methods (their 1-D attributions are over units, not features).
        view: ``"blended_heat_map"``, ``"heat_map"`` or ``"masked_image"``.
        sign: ``"auto"``, ``"all"``, ``"positive"``, ``"negative"`` or ``"absolute_value"``.
        denormalize, feature_names: see :class:`~lightning_xai.callbacks.AttributionMonitor`.
        image_size: small images are enlarged (nearest) to at least this many pixels a side.
        text: how token ids read (tokenizer or vocabulary, padding, merged words).
        warn_once: ``(key, message)`` -> a warning given once per key.

    Every map over an image has a colour bar printing the values of its ends. Its scale is
    its own (``scale="sample"`` on the monitor: full contrast every run), the first run's per
    sample and method (``"fixed"``: growth saturates, fading pales) or the largest so far
    (``"max"``), held in checkpoints (:class:`~lightning_xai.figures.scales.HeldScales`). Maps
    whose largest |attribution| is below 1e-8 of the sample's largest |output| are drawn flat
    and marked ``~0``. ``outlier_perc`` (the percentage of the attribution mass saturated)
    defaults to 2 (Captum's) over inputs and 0 (Grad-CAM's) for smooth upsampled layer maps.
    """

    tags: Mapping[str, str]
    outlier_perc: Mapping[str, float]
    unit_keys: frozenset[str]
    view: str
    sign: str
    denormalize: Denormalize
    image_size: int
    feature_names: Sequence[str] | None
    text: TokenText
    warn_once: Callable[[str, str], None]

    def log(
        self,
        sink: Sink,
        step: int,
        inputs: Sequence[Tensor],
        outputs: Tensor,
        targets: Tensor | None,
        labels: Tensor | None,
        results: Mapping[str, Attribution],
        names: Sequence[str] = ("",),
        epoch: int | None = None,
        scales: Mapping[str, Tensor] | None = None,
        token_mask: Tensor | None = None,
    ) -> None:
        """Draws and writes one run (CPU tensors): the attributions of each input, under
        ``<method>/<name>`` and ``xai/panels/<name>`` when the model takes several inputs.

        Every map gets a colour bar with the values its ends stand for; a map too weak to
        draw (:func:`~lightning_xai.render.colorbar.negligible` against ``outputs``) is drawn
        flat, its bar marked ``~0``.

        Args:
            sink: where to write.
            step: the step to log at.
            inputs: the probe's attributed inputs, each ``[N, ...]``.
            outputs: the model's outputs on the probe ``[N, K]`` (titles, the ``~0`` mark).
            targets: the explained class per sample, or ``None``.
            labels: the labels, or ``None``.
            results: method key -> attribution (a tuple for several inputs; a layer map is
                drawn over the first input with as many dimensions).
            names: a name per input; ``("",)`` for a single-input model (no name in tags).
            epoch: the epoch, shown in the titles.
            scales: ``[N]`` colour scales held across runs, by tag (see :meth:`scales`);
                default: each map's own.
            token_mask: the attention mask ``[N, L]`` of token inputs, or ``None``.
        """
        titles = probe_titles(outputs, targets, labels, epoch=epoch)
        for x, name, mine in self._per_input(inputs, results, names):
            tags = {k: self.tags[k] + (f"/{name}" if name else "") for k in mine}
            held = {k: scales[tags[k]] for k in mine if scales and tags[k] in scales}
            drawing = (titles, outputs, held)
            self._log_input(sink, step, x, drawing, mine, tags, name, token_mask)

    def scales(
        self,
        inputs: Sequence[Tensor],
        results: Mapping[str, Attribution],
        names: Sequence[str] = ("",),
    ) -> dict[str, Tensor]:
        """Each map's own colour scale ``[N]`` by tag (``<method>[/<input>]``), for maps drawn
        over images; see :func:`~lightning_xai.render.heatmap.attribution_scale`."""
        found = {}
        for x, name, mine in self._per_input(inputs, results, names):
            for key, a in mine.items():
                if a.ndim == 4 == x.ndim:
                    sign = resolve_sign(a, self.sign)
                    found[self.tags[key] + (f"/{name}" if name else "")] = attribution_scale(
                        a, sign, self.outlier_perc[key]
                    )
        return found

    @staticmethod
    def _per_input(
        inputs: Sequence[Tensor], results: Mapping[str, Attribution], names: Sequence[str]
    ) -> Iterator[tuple[Tensor, str, dict[str, Tensor]]]:
        """``(input, its name, method key -> its attribution)`` per input with any."""
        for i, (x, name) in enumerate(zip(inputs, names, strict=True)):
            found = {k: _attribution_of(a, i, inputs) for k, a in results.items()}
            mine = {k: a for k, a in found.items() if a is not None}
            if mine:
                yield x, name, mine

    def _log_input(
        self,
        sink: Sink,
        step: int,
        inputs: Tensor,
        drawing: tuple[list[str], Tensor, dict[str, Tensor]],
        results: dict[str, Tensor],
        tags: dict[str, str],
        name: str,
        token_mask: Tensor | None = None,
    ) -> None:
        """The pictures of one input: ``results`` maps method keys to attributions over
        ``inputs``, logged under ``xai/attributions/<tags[key]>/...`` and
        ``xai/panels[/<name>]/sample_<k>`` (``name``: the input's, on a multi-input model);
        ``drawing`` is (titles, outputs, held scales by key)."""
        titles, outputs, held = drawing
        if inputs.ndim == 2 and not inputs.is_floating_point():  # token ids [N, L]
            args = (self.text, token_mask, outputs)
            log_token_attributions(sink, step, inputs, results, tags, titles, *args)
            return
        charts = {k: a for k, a in results.items() if a.ndim == 2}
        maps = {k: a for k, a in results.items() if a.ndim == 4 == inputs.ndim}
        if charts:
            log_feature_charts(
                [sink], charts, tags, step, unit_keys=set(self.unit_keys),
                feature_names=self.feature_names, titles=titles, panels=inputs.ndim == 2,
                panel_input=name, outputs=outputs,
            )  # fmt: skip
        others = {k: a for k, a in results.items() if k not in charts and k not in maps}
        if others:
            self.warn_once(
                "not-images",
                f"pictures are drawn for [N, C, H, W] and [N, F] attributions; those of shape "
                f"{tuple(next(iter(others.values())).shape)} get a histogram of values.",
            )
            for key, attribution in others.items():
                sink.add_histogram(TAGS["attribution_values"](method=tags[key]), attribution, step)
        if not maps:
            return
        # Batched at the input's size, one uint8 conversion and one enlargement for all
        # pictures, panels in one concatenation: a few tensor ops per run, not per sample.
        small = to_display(inputs, self.denormalize)
        drawn = [self._draw(key, a, small, outputs, held.get(key)) for key, a in maps.items()]
        everything = to_uint8(torch.stack([small, *(picture for picture, _ in drawn)]))
        shown, *pictures = enlarge(everything.flatten(0, 1), self.image_size).unflatten(
            0, everything.shape[:2]
        )  # [N, 3, H, W] each
        # A colour bar under every map; white under the input, to keep the panel's rows even.
        # Values as large as the panel's headers: legible where TensorBoard shrinks it.
        width = shown.shape[-1]
        size = title_size((width + 2) * len(everything) - 2)
        bars = [to_uint8(legend(width=width, size=size)) for _, legend in drawn]
        pictures = [torch.cat(pair, dim=2) for pair in zip(pictures, bars, strict=True)]
        shown = torch.cat([shown, torch.full_like(bars[0], 255)], dim=2)
        rows = titled_rows([shown, *pictures], ["input", *(tags[k] for k in maps)], titles)
        for k in range(inputs.shape[0]):
            for key, picture in zip(maps, pictures, strict=True):
                sink.add_image(TAGS["attribution"](method=tags[key], k=k), picture[k], step)
            sink.add_image(panel_tag(k, name), rows[k], step)

    def _draw(
        self, key: str, attribution: Tensor, images: Tensor, outputs: Tensor, held: Tensor | None
    ) -> tuple[Tensor, Callable[..., Tensor]]:
        """One method's pictures ``[N, 3, H, W]`` over ``images`` and their colour bars,
        :func:`~lightning_xai.render.colorbar.colorbars` waiting for the ``width``."""
        sign = resolve_sign(attribution, self.sign)
        scale = (
            held
            if held is not None
            else attribution_scale(attribution, sign, self.outlier_perc[key])
        )
        marked = negligible(attribution, outputs)
        shown = torch.where(marked, torch.full_like(scale, float("inf")), scale)
        picture = render_attribution(
            attribution, images, self.view, sign, self.outlier_perc[key], scale=shown
        )
        name, low, high = colour_range(sign, self.view)
        peaks = attribution.abs().flatten(1).amax(dim=1)
        return picture, partial(
            colorbars, name, low * scale, high * scale, marked=marked, peaks=peaks
        )


def _attribution_of(attribution: Attribution, i: int, inputs: Sequence[Tensor]) -> Tensor | None:
    """The part of ``attribution`` drawn over input ``i``: its element of a per-input tuple;
    a layer map goes to the first input with as many dimensions (as ``to_input_space``)."""
    if isinstance(attribution, tuple):
        return attribution[i]
    return attribution if i == ModelInputs.grid_of(inputs, attribution.ndim) else None


def check_drawing(
    view: str,
    sign: str,
    outlier_perc: float | None,
    denormalize: Denormalize,
    scale: str = "sample",
) -> None:
    """Checks the drawing options of :class:`AttributionPictures` (see AttributionMonitor)."""
    check_choice("view", view, VIEWS)
    check_choice("sign", sign, SIGNS)
    check_choice("scale", scale, SCALES)
    if outlier_perc is not None and not 0 <= outlier_perc < 100:
        raise ValueError(f"`outlier_perc` must lie in [0, 100), got {outlier_perc}.")
    if denormalize is not None and not callable(denormalize) and len(denormalize) != 2:
        raise ValueError(
            f"`denormalize` must be (mean, std), a callable or None, got {denormalize!r}."
        )
    std = None if denormalize is None or callable(denormalize) else denormalize[1]
    if std is not None and (torch.as_tensor(std, dtype=torch.float) == 0).any():
        raise ValueError(f"`denormalize` std must be nonzero, got {std!r}.")


def default_outlier_perc(given: float | None, spec: MethodSpec) -> float:
    """The given percentage, else 2 (Captum's) over inputs and 0 for smooth layer maps."""
    if given is not None:
        return given
    return 0.0 if spec.output == "layer" else 2.0
