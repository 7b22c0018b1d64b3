"""The model zoo: one torchvision classifier per family, each run in a real Trainer with the core
methods, infidelity and FeatureMapMonitor; the outcome of every (model, method) cell.

``python -m tests.support.zoo`` runs the whole zoo and writes the outcome table into README.md
between the ``zoo-table`` marker comments; ``tests/integration/test_zoo.py`` runs the same
function and checks it.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchvision.models as tv
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.models import efficientnet
from torchvision.models.convnext import CNBlockConfig

from lightning_xai import AttributionMonitor, FeatureMapMonitor
from lightning_xai.methods.registry import snake_case
from lightning_xai.tags import TAGS, parse_tag

CLASSES = 4
PROBES = 2
METHODS: dict[str, dict[str, Any] | None] = {
    "IntegratedGradients": {"n_steps": 4},
    "Saliency": None,
    "DeepLift": None,
    "GradientShap": {"n_samples": 2},
    "GuidedBackprop": None,
    "LayerGradCam": None,
    "Occlusion": None,
    "NoiseTunnel(Saliency)": {"noise_tunnel": {"nt_samples": 3}},
}
COLUMNS = [*METHODS, "infidelity", "FeatureMapMonitor"]


@dataclass(frozen=True)
class ZooModel:
    """A family's smallest affordable member: how to build it and the input side it needs."""

    family: str
    build: Callable[[], nn.Module]
    size: int = 32
    note: str = ""


def _small_convnext() -> nn.Module:
    blocks = [CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 1), CNBlockConfig(64, None, 1)]
    return tv.ConvNeXt(blocks, num_classes=CLASSES)


def _small_maxvit() -> nn.Module:
    return tv.MaxVit(
        input_size=(32, 32), stem_channels=8, partition_size=2, block_channels=[16, 32],
        block_layers=[1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=CLASSES,
    )  # fmt: skip


def _small_efficientnet_v2() -> nn.Module:
    fused, mb = efficientnet.FusedMBConvConfig, efficientnet.MBConvConfig
    blocks = [fused(1, 3, 1, 16, 16, 1), fused(4, 3, 2, 16, 32, 1), mb(4, 3, 2, 32, 48, 1)]
    norm = partial(nn.BatchNorm2d, eps=1e-03)
    return efficientnet.EfficientNet(
        blocks, 0.2, last_channel=128, num_classes=CLASSES, norm_layer=norm
    )


def _small_swin() -> nn.Module:
    return tv.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
        num_classes=CLASSES,
    )  # fmt: skip


def _bottlenecks(**kwargs: int) -> nn.Module:
    return tv.ResNet(tv.resnet.Bottleneck, [1, 1, 1, 1], num_classes=CLASSES, **kwargs)


C = {"num_classes": CLASSES}
# Stock constructors where they are cheap here; else the family's class with fewer blocks.
ZOO: tuple[ZooModel, ...] = (
    ZooModel("ResNet", lambda: tv.resnet18(**C), note="resnet18"),
    ZooModel(
        "ResNeXt",
        lambda: _bottlenecks(groups=32, width_per_group=4),
        note="resnext50_32x4d's block, 1 per stage",
    ),
    ZooModel(
        "Wide ResNet",
        lambda: _bottlenecks(width_per_group=128),
        note="wide_resnet50_2's block, 1 per stage",
    ),
    ZooModel(
        "DenseNet",
        lambda: tv.DenseNet(32, (2, 2, 2, 2), 64, **C),
        note="densenet121's layers, 2 per block",
    ),
    ZooModel("MobileNet v2", lambda: tv.mobilenet_v2(**C), note="mobilenet_v2"),
    ZooModel("MobileNet v3", lambda: tv.mobilenet_v3_small(**C), note="mobilenet_v3_small"),
    ZooModel("EfficientNet", lambda: tv.efficientnet_b0(**C), note="efficientnet_b0"),
    ZooModel("EfficientNet v2", _small_efficientnet_v2, note="3 fused/MBConv stages"),
    ZooModel("MNASNet", lambda: tv.mnasnet0_5(**C), note="mnasnet0_5"),
    ZooModel("ShuffleNet v2", lambda: tv.shufflenet_v2_x0_5(**C), note="shufflenet_v2_x0_5"),
    ZooModel("SqueezeNet", lambda: tv.squeezenet1_1(**C), note="squeezenet1_1"),
    ZooModel("RegNet", lambda: tv.regnet_x_400mf(**C), note="regnet_x_400mf"),
    ZooModel("ConvNeXt", _small_convnext, note="3 stages of 1 block, 16-64 channels"),
    ZooModel(
        "GoogLeNet",
        lambda: tv.googlenet(aux_logits=True, init_weights=True, **C),
        note="googlenet, aux outputs on",
    ),
    ZooModel(
        "Inception v3",
        lambda: tv.inception_v3(aux_logits=False, init_weights=True, **C),
        size=75,
        note="inception_v3, 75 px, aux off: needs 299",
    ),
    ZooModel("AlexNet", lambda: tv.alexnet(**C), size=64, note="alexnet at 64 px"),
    ZooModel("Swin", _small_swin, note="2 stages, window 4"),
    ZooModel("MaxViT", _small_maxvit, note="2 stages, partition 2"),
    ZooModel(
        "ViT",
        lambda: tv.VisionTransformer(32, 8, 2, 2, 32, 64, **C),
        note="patch 8, 2 layers, width 32",
    ),
)


class ZooClassifier(pl.LightningModule):
    """A plain classifier around a torchvision model; aux outputs (GoogLeNet) join the loss in
    training, as torchvision's reference recipe does. (The Trainer clips gradients: a first
    unclipped step left MNASNet's and RegNet's eval-mode outputs NaN or ~1e30.)"""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        out = self(x)
        if isinstance(out, tuple):  # GoogLeNetOutputs / InceptionOutputs (training mode)
            logits, *aux = (o for o in out if o is not None)
            return F.cross_entropy(logits, y) + 0.3 * sum(F.cross_entropy(a, y) for a in aux)
        return F.cross_entropy(out, y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _images(n: int, size: int, seed: int) -> TensorDataset:
    """Class-coloured noise: class c brightens channel c % 3 in quadrant c."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=gen) * 0.5
    y = torch.arange(n) % CLASSES
    half = size // 2
    for i, c in enumerate(y.tolist()):
        r, col = divmod(c, 2)
        x[i, c % 3, r * half : (r + 1) * half, col * half : (col + 1) * half] += 0.5
    return TensorDataset(x, y)


@dataclass
class Outcome:
    """What happened to one (model, column) cell: ``works``, ``warns``, ``refused`` (before the
    first step) or ``failed`` (no picture per probe, or a counted error)."""

    status: str = "works"
    messages: list[str] = field(default_factory=list)

    def add(self, status: str, message: str) -> None:
        self.messages.append(message)
        if _STATUSES.index(status) > _STATUSES.index(self.status):
            self.status = status


_STATUSES = ("works", "warns", "refused", "failed")


@dataclass
class ZooRun:
    """One model's run: the outcome per column and the layer Grad-CAM drew, with its output
    shape on the probe."""

    outcomes: dict[str, Outcome]
    cam_layer: str | None
    cam_shape: tuple[int, ...] | None


def run_model(model: ZooModel, root: Path) -> ZooRun:
    """One short epoch of ``model`` with every core method, infidelity and FeatureMapMonitor.

    A method refused before the first step is recorded and the run repeated without it.
    """
    outcomes = {c: Outcome() for c in COLUMNS}
    methods = dict(METHODS)
    while methods:
        torch.manual_seed(0)
        net = model.build()
        monitor = AttributionMonitor(
            methods, num_probes=PROBES, metrics={"infidelity": {"n_perturb_samples": 2}},
            image_size=32,
        )  # fmt: skip
        features = FeatureMapMonitor(
            layers=_first_and_last_conv(net, model.size),
            num_probes=PROBES, histograms=False, max_channels=16,
        )  # fmt: skip
        logdir = root / f"without_{len(METHODS) - len(methods)}"
        trainer = pl.Trainer(
            max_epochs=1, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=0,
            logger=TensorBoardLogger(str(logdir), name="", version=""),
            callbacks=[monitor, features], accelerator="cpu", enable_progress_bar=False,
            enable_model_summary=False, enable_checkpointing=False, gradient_clip_val=1.0,
        )  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                trainer.fit(
                    ZooClassifier(net),
                    DataLoader(_images(4, model.size, 0), batch_size=4),
                    DataLoader(_images(4, model.size, 1), batch_size=4),
                )
            except (TypeError, ValueError) as err:
                refused = next((k for k in methods if f"method {k!r}" in str(err)), None)
                if refused is None or trainer.global_step > 0:
                    raise
                outcomes[refused].add("refused", str(err))
                del methods[refused]
                continue
        _record(outcomes, caught, list(methods), logdir)
        cam = next((m for m in monitor.methods if m.key == "LayerGradCam"), None)
        path = cam.layer_path if cam else None
        return ZooRun(outcomes, path, _output_shape(net, path, model.size) if path else None)
    raise RuntimeError(f"{model.family}: every method was refused")


def _first_and_last_conv(net: nn.Module, size: int) -> list[str]:
    """The first and the last Conv2d that run in an eval-mode forward (aux heads do not),
    as names on the LightningModule (``net.``...)."""
    called: list[str] = []
    handles = [
        m.register_forward_hook(lambda *_, n=n: called.append(f"net.{n}"))
        for n, m in net.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        net.eval()(torch.rand(1, 3, size, size))
    for handle in handles:
        handle.remove()
    return list(dict.fromkeys([called[0], called[-1]]))


def _output_shape(net: nn.Module, path: str, size: int) -> tuple[int, ...]:
    shapes: list[tuple[int, ...]] = []
    layer = ZooClassifier(net).get_submodule(path)
    handle = layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
    with torch.no_grad():
        net.eval()(torch.rand(PROBES, 3, size, size))
    handle.remove()
    return shapes[0]


def _record(
    outcomes: dict[str, Outcome],
    caught: list[warnings.WarningMessage],
    methods: list[str],
    logdir: Path,
) -> None:
    """Files each monitor warning under its column, then checks the pictures per probe."""
    from tests.support.helpers import read_events

    tags = {k: snake_case(k) for k in methods}
    for w in caught:
        text = str(w.message)
        if not text.startswith(("AttributionMonitor", "FeatureMapMonitor")):
            continue
        status = "failed" if " failed at step " in text else "warns"
        column = next(
            (k for k in methods if f"method {k!r}" in text or f" {tags[k]} failed" in text), None
        )
        if "infidelity" in text:
            column = "infidelity"
        elif text.startswith("FeatureMapMonitor"):
            column = "FeatureMapMonitor"
        outcomes[column or "IntegratedGradients"].add(status, text)
    images = set(read_events(logdir).Tags()["images"])
    for key in methods:
        missing = {TAGS["attribution"](method=tags[key], k=k) for k in range(PROBES)} - images
        if missing:
            outcomes[key].add("failed", f"pictures missing: {sorted(missing)}")
    if not any((parse_tag(t) or ("",))[0] == "feature_map" for t in images):
        outcomes["FeatureMapMonitor"].add("failed", "no feature maps drawn")


def _short(message: str) -> str:
    """A warning without its ``Class: method 'x' (X):`` prefix: its first sentence, or its
    head and the first line of each listed nonlinearity, on one line."""
    message = re.sub(r"^\w+: (method '[^']+' \([^)]*\):? ?)?", "", message.strip())
    _, *items = message.split("\n  - ")
    if items:
        return "the rule misses " + "; ".join(i.split(":")[0] for i in items)
    return message.split("; ")[0]


def markdown(runs: dict[str, ZooRun]) -> str:
    """The outcome table (a row per family, a column per method) and its numbered notes."""
    head = "| family (model) | " + " | ".join(f"`{c}`" for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    notes: dict[str, int] = {}
    for model in ZOO:
        run = runs[model.family]
        cells = []
        for column in COLUMNS:
            outcome = run.outcomes[column]
            marks = dict.fromkeys(
                notes.setdefault(_short(m), len(notes) + 1) for m in outcome.messages
            )
            cell = outcome.status + "".join(f" [{n}]" for n in marks)
            if column == "LayerGradCam" and run.cam_layer and run.cam_shape:
                cell += (
                    f" `{run.cam_layer.removeprefix('net.')}` {run.cam_shape[2]}x{run.cam_shape[3]}"
                )
            cells.append(cell)
        lines.append(f"| {model.family} ({model.note}) | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"{n}. {text.replace('|', '/')}" for text, n in notes.items()]
    return "\n".join(lines)


def write_readme(table: str, readme: Path) -> None:
    """Replaces what lies between the ``zoo-table`` markers of ``readme`` with ``table``."""
    start, end = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"
    before, rest = readme.read_text().split(start)
    _, after = rest.split(end)
    readme.write_text(f"{before}{start}\n{table}\n{end}{after}")


def main() -> None:
    """Runs the zoo (one torch thread: see tests/integration/test_zoo.py) and prints the table; with
    ``--readme`` also writes it into README.md."""
    import tempfile

    torch.set_num_threads(1)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in ZOO:
            runs[model.family] = run_model(model, Path(tmp) / re.sub(r"\W", "_", model.family))
    table = markdown(runs)
    print(table)
    if "--readme" in sys.argv:
        write_readme(table, Path(__file__).resolve().parents[2] / "README.md")


if __name__ == "__main__":
    main()
