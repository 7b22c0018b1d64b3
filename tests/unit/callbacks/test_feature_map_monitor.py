from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import Tensor, nn

from lightning_xai import FeatureMapMonitor
from lightning_xai.render.grid import SEPARATOR
from tests.support.helpers import (
    DigitsData,
    LitClassifier,
    count_tiles,
    decode_image,
    make_trainer,
    read_events,
)

LEVEL = 1 / 255 + 1e-6  # TensorBoard stores images as uint8 (values truncated)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine their
    spin-waits make the 50-epoch test 10-20x slower (measured: 20 s instead of 1 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _Recorder(pl.Callback):
    """Records ``fn(pl_module)`` after each validation epoch (after the monitors before it)."""

    def __init__(self, fn: Callable[[pl.LightningModule], Any]) -> None:
        self.fn = fn
        self.records: dict[int, Any] = {}

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.records[trainer.global_step] = self.fn(pl_module)


def _minmax(x: Tensor) -> Tensor:
    return (x - x.min()) / (x.max() - x.min())


def _tile(pixels: Tensor, row: int, col: int, size: tuple[int, int], scale: int) -> Tensor:
    """One channel of the tile at (row, col) of a decoded grid, one pixel per value."""
    h, w = size
    y, x = row * (h * scale + 1), col * (w * scale + 1)
    block = pixels[y : y + h * scale, x : x + w * scale, 0].float() / 255
    return block[::scale, ::scale]


def _images(tmp_path: Path, tag: str) -> list[Any]:
    return read_events(tmp_path / "tb" / "version_0").Images(tag)


def test_kernel_grid_pixels_are_the_normalised_weights_at_that_step(tmp_path: Path) -> None:
    monitor = FeatureMapMonitor(max_kernel_inputs=2, max_channels=None, tile_size=24)
    weights = _Recorder(lambda m: {n: getattr(m.net, n).weight.clone() for n in ("conv1", "conv2")})
    trainer = make_trainer(tmp_path, [monitor, weights], max_epochs=2)
    trainer.fit(LitClassifier(), datamodule=DigitsData())
    assert sorted(weights.records) == [4, 8] and monitor.runs == 2 and not monitor.errors
    scale = math.ceil(24 / 3)
    for layer, rows, cols in [("conv1", 2, 2), ("conv2", 8, 2)]:
        images = _images(tmp_path, f"xai/filters/net.{layer}")
        assert [e.step for e in images] == [4, 8]
        for event in images:
            pixels = decode_image(event)
            weight = weights.records[event.step][layer]
            assert pixels.shape == (rows * 25 - 1, cols * 25 - 1, 3)
            for t in range(rows * cols):
                # conv1 has one input: a 2 x 2 grid of its 4 kernels; conv2 (4 inputs, 2 shown):
                # one row per output channel, one column per input channel.
                o, i = (t, 0) if layer == "conv1" else divmod(t, 2)
                expected = _minmax(weight[o, i])
                shown = _tile(pixels, t // cols, t % cols, (3, 3), scale)
                torch.testing.assert_close(shown, expected, atol=LEVEL, rtol=0)
            separator = pixels[scale * 3, :, :].float() / 255
            torch.testing.assert_close(
                separator, torch.tensor(SEPARATOR).expand_as(separator), atol=LEVEL, rtol=0
            )


def test_feature_map_grid_is_the_layer_output_of_the_sample(tmp_path: Path) -> None:
    monitor = FeatureMapMonitor(layers=["net.conv2"], samples=(0, 2), normalize="layer")
    model = LitClassifier()
    make_trainer(tmp_path, [monitor], max_epochs=1).fit(model, datamodule=DigitsData())
    outputs: list[Tensor] = []
    handle = model.net.conv2.register_forward_hook(lambda m, a, out: outputs.append(out))
    model.eval()
    with torch.no_grad():
        model(monitor.probe.inputs)
    handle.remove()
    (out,) = outputs  # [16, 8, 6, 6]
    scale = math.ceil(32 / 6)
    for k in (0, 2):
        (event,) = _images(tmp_path, f"xai/feature_maps/net.conv2/sample_{k:02d}")
        pixels = decode_image(event)
        assert count_tiles(pixels) == (3, 3, 8)
        expected = _minmax(out[k])  # normalize="layer": one scale for the sample's 8 maps
        for c in range(8):
            shown = _tile(pixels, c // 3, c % 3, (6, 6), scale)
            torch.testing.assert_close(shown, expected[c], atol=LEVEL, rtol=0)
        grid = monitor.latest["net.conv2"]["feature_maps"][k]
        torch.testing.assert_close(pixels.permute(2, 0, 1).float() / 255, grid, atol=LEVEL, rtol=0)
    assert "net.conv1" not in monitor.latest


def test_dead_channel_fraction_is_exact(tmp_path: Path) -> None:
    model = LitClassifier()
    forced = [1, 4, 6]
    with torch.no_grad():  # ReLU'(0) = 0: these channels get no gradient and stay zero
        model.net.conv2.weight[forced] = 0
        model.net.conv2.bias[forced] = 0
    # Both write the same tags: inline writes keep their events interleaved raw, relu, ...
    raw = FeatureMapMonitor(
        layers="net.conv2", activation=None, samples=(), background_writes=False
    )
    relu = FeatureMapMonitor(layers=["net.conv2"], samples=(1,), background_writes=False)
    make_trainer(tmp_path, [raw, relu], max_epochs=2).fit(model, datamodule=DigitsData())
    events = read_events(tmp_path / "tb" / "version_0")
    values = [e.value for e in events.Scalars("xai/health/net.conv2/dead_fraction")]
    assert values[::2] == [3 / 8, 3 / 8]  # raw output: exactly the forced channels, each epoch
    assert raw.latest["net.conv2"]["health"]["dead_fraction"] == 3 / 8

    outputs: list[Tensor] = []
    handle = model.net.conv2.register_forward_hook(lambda m, a, out: outputs.append(out))
    model.eval()
    with torch.no_grad():
        model(relu.probe.inputs)
    handle.remove()
    silent = (outputs[0] <= 0).all(dim=3).all(dim=2).all(dim=0)  # a ReLU after it gives 0
    assert silent[forced].all()
    health = relu.latest["net.conv2"]["health"]
    assert health["dead_fraction"] == silent.float().mean().item() == values[-1]
    assert health["sparsity"] == pytest.approx((outputs[0] <= 0).float().mean().item())
    assert health["mean_activation"] == pytest.approx(outputs[0].relu().mean().item())
    norm = [e.value for e in events.Scalars("xai/health/net.conv2/weight_norm")][-1]
    assert norm == pytest.approx(model.net.conv2.weight.norm().item(), rel=1e-6)
    assert "xai/feature_maps/net.conv2/sample_00" not in events.Tags()["images"]  # samples=()


def test_seed_000_convnet_gives_16_and_32_tiles(tmp_path: Path) -> None:
    from example_trainers.data import DigitsDataModule
    from example_trainers.models import Classifier, ConvNet

    slices = FeatureMapMonitor(samples=(0,), num_probes=8)
    means = FeatureMapMonitor(samples=(0,), num_probes=8, kernel_view="mean", histograms=False)
    trainer = make_trainer(tmp_path, [slices, means], max_epochs=1, limit_train_batches=2)
    trainer.fit(Classifier(ConvNet()), datamodule=DigitsDataModule(batch_size=32))
    assert set(slices.latest) == {"net.cn1", "net.cn2"} and not slices.errors
    events = read_events(tmp_path / "tb" / "version_0")

    def tiles(tag: str) -> set[tuple[int, int, int]]:
        return {count_tiles(decode_image(event)) for event in events.Images(tag)}

    # 28 x 28 digits: cn1 gives 16 maps of 26 x 26, cn2 32 maps of 24 x 24.
    assert tiles("xai/feature_maps/net.cn1/sample_00") == {(4, 4, 16)}
    assert tiles("xai/feature_maps/net.cn2/sample_00") == {(6, 6, 32)}
    assert tiles("xai/filters/net.cn1") == {(4, 4, 16)}
    # Both monitors draw cn2's 32 filters: 32 rows of 8 input slices, or the mean over inputs.
    assert tiles("xai/filters/net.cn2") == {(32, 8, 256), (6, 6, 32)}
    assert slices.latest["net.cn2"]["feature_maps"][0].shape == (3, 6 * 49 - 1, 6 * 49 - 1)
    assert means.latest["net.cn2"]["filters"].shape == (3, 6 * 34 - 1, 6 * 34 - 1)


class _SequenceNet(nn.Module):
    """Digits rows as a sequence: [N, 1, 8, 8] -> 8 channels x 8 steps -> Conv1d -> logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(8, 6, 3)
        self.relu = nn.ReLU(inplace=True)  # changes the conv output after the hook has run
        self.fc = nn.Linear(6 * 6, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.relu(self.conv(x.flatten(1, 2))).flatten(1))


def test_conv1d_feature_maps_are_channel_by_length_strips(tmp_path: Path) -> None:
    monitor = FeatureMapMonitor(samples=(0,), max_kernel_inputs=4)
    model = LitClassifier(_SequenceNet())
    make_trainer(tmp_path, [monitor], max_epochs=1).fit(model, datamodule=DigitsData())
    (event,) = _images(tmp_path, "xai/feature_maps/net.conv/sample_00")
    pixels = decode_image(event)
    assert pixels.shape == (6 * 8 + 5, 6 * 22, 3)  # 6 strips of 8 x (6 steps * 22)
    assert count_tiles(pixels) == (6, 1, 6)
    model.eval()
    with torch.no_grad():
        raw = model.net.conv(monitor.probe.inputs[:1].flatten(1, 2))[0]  # [6, 6], signed
    assert (raw < 0).any()  # the in-place ReLU after the layer does not leak into the picture
    for c in range(6):
        shown = pixels[c * 9, ::22, 0].float() / 255
        torch.testing.assert_close(shown, _minmax(raw[c]), atol=LEVEL, rtol=0)
    (filters,) = _images(tmp_path, "xai/filters/net.conv")
    assert count_tiles(decode_image(filters)) == (6, 4, 24)


def _hook_count(model: nn.Module) -> int:
    from torch.nn.modules import module as torch_module

    hooks = sum(
        len(getattr(m, name))
        for m in model.modules()
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
    )
    return hooks + len(torch_module._global_forward_hooks)


class _Spy(LitClassifier):
    """Notes, for every eval-mode forward, the hooks on the convs and the grad mode."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, bool]] = []

    def forward(self, x: Tensor) -> Tensor:
        if not self.training and x.shape[0] == 4:  # the probe (validation batches are 16)
            self.seen.append((_hook_count(self), torch.is_grad_enabled()))
        return super().forward(x)


def test_hooks_are_gone_after_every_run_and_do_not_grow(tmp_path: Path) -> None:
    model = _Spy()
    before = _hook_count(model)
    monitor = FeatureMapMonitor(samples=(0,), num_probes=4, histograms=False)
    after_run = _Recorder(_hook_count)
    trainer = make_trainer(
        tmp_path,
        [monitor, after_run],
        max_epochs=50,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=DigitsData(n_train=16, n_val=16, batch_size=16))
    assert monitor.runs == 50 and not monitor.errors
    assert list(after_run.records.values()) == [before] * 50
    # one forward per run, grad off: 2 capture hooks on the convs and the 2 of the run's
    # progress (on the model and its `net`, counting forward passes), all removed after
    assert model.seen == [(before + 4, False)] * 50
    assert _hook_count(model) == before


def test_training_is_bitwise_identical_with_the_monitor(tmp_path: Path) -> None:
    def final_weights(root: Path, callbacks: list[pl.Callback]) -> dict[str, Tensor]:
        pl.seed_everything(123, verbose=False)
        model = LitClassifier()
        trainer = make_trainer(root, callbacks, max_epochs=3, limit_val_batches=1)
        trainer.fit(model, datamodule=DigitsData())
        return {k: v.clone() for k, v in model.state_dict().items()}

    monitor = FeatureMapMonitor(max_channels=4)
    without = final_weights(tmp_path / "a", [])
    with_monitor = final_weights(tmp_path / "b", [monitor])
    assert monitor.runs == 3 and not monitor.errors
    assert monitor.latest["net.conv1"]["channels"].tolist() == [0, 1, 2, 3]  # all 4
    shown = monitor.latest["net.conv2"]["channels"].tolist()  # the 4 most active of 8
    texts = read_events(tmp_path / "b" / "tb" / "version_0").Tensors(
        "xai/feature_maps/net.conv2/channels/text_summary"
    )
    assert len(shown) == 4 and texts[-1].tensor_proto.string_val[0].decode().endswith(
        ", ".join(map(str, shown))
    )
    assert without.keys() == with_monitor.keys()
    for name, tensor in without.items():
        assert torch.equal(tensor, with_monitor[name]), name  # weights and BatchNorm buffers


def test_validate_under_inference_mode(tmp_path: Path) -> None:
    monitor = FeatureMapMonitor(samples=(0,))
    make_trainer(tmp_path, [monitor]).validate(LitClassifier(), datamodule=DigitsData())
    assert monitor.runs == 1 and not monitor.errors
    assert monitor.latest["net.conv2"]["channels"].tolist() == list(range(8))


class _TwiceNet(nn.Module):
    """Runs one conv twice per forward (weight sharing)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(torch.relu(self.conv(x))).flatten(1))


def test_reused_layer_warns_and_samples_beyond_the_probe_fail(tmp_path: Path) -> None:
    one = DigitsData(n_val=1).val_set.tensors[0]  # an explicit probe of one sample
    with pytest.raises(ValueError, match=r"`samples` must be distinct positions in \[0, 1\)"):
        FeatureMapMonitor(samples=(0, 1), probe=one)
    monitor = FeatureMapMonitor(samples=(0,), max_channels=1, probe=one)
    model = LitClassifier(_TwiceNet())
    with pytest.warns(UserWarning) as record:
        make_trainer(tmp_path, [monitor]).validate(model, datamodule=DigitsData(n_val=1))
    messages = " ".join(str(w.message) for w in record)
    assert "'net.conv' runs more than once per forward; its first call is shown" in messages
    first = model.net.conv(monitor.probe.inputs)[0, 0]
    shown = monitor.latest["net.conv"]["feature_maps"][0][0, ::4, ::4]  # 8 x 8 map, scale 4
    torch.testing.assert_close(shown, _minmax(first), atol=1e-6, rtol=0)
    assert list(monitor.latest["net.conv"]["feature_maps"]) == [0]


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        (["net.fc"], r"'net.fc', a Linear; .*Conv layers: \['net.conv1', 'net.conv2'\]"),
        (["net.conv9"], r"'net.conv9', which is not a submodule .*\['net.conv1', 'net.conv2'\]"),
        (["net.conv1", "net.bn"], r"'net.bn', a BatchNorm2d"),
    ],
)
def test_bad_layers_fail_in_setup_before_training(tmp_path: Path, layers: list, match: str) -> None:
    model = LitClassifier()
    with pytest.raises(ValueError, match=match):
        make_trainer(tmp_path, [FeatureMapMonitor(layers=layers)]).fit(
            model, datamodule=DigitsData()
        )
    assert model.global_step == 0


def test_a_model_without_convolutions_is_a_misconfiguration(tmp_path: Path) -> None:
    model = LitClassifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
    with pytest.raises(MisconfigurationException, match="no Conv1d or Conv2d layer"):
        make_trainer(tmp_path, [FeatureMapMonitor()]).fit(model, datamodule=DigitsData())
    assert model.global_step == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"layers": 3}, TypeError, "FeatureMapMonitor: `layers` must be a list"),
        ({"layers": []}, ValueError, "`layers` is empty"),
        ({"layers": ["a", "a"]}, ValueError, r"`layers` names \['a'\] more than once"),
        ({"samples": (0, 16)}, ValueError, r"`samples` must be distinct positions in \[0, 16\)"),
        ({"samples": (1, 1)}, ValueError, "distinct"),
        ({"samples": "0"}, TypeError, "`samples` must be a list of probe positions"),
        ({"samples": (2,), "probe": torch.zeros(2, 1, 8, 8)}, ValueError, r"\[0, 2\)"),
        ({"max_channels": 0}, ValueError, "`max_channels` must be >= 1, got 0"),
        ({"max_channels": 2.5}, TypeError, "`max_channels` must be a positive int or None"),
        ({"max_kernel_inputs": 0}, ValueError, "`max_kernel_inputs`"),
        ({"tile_size": "big"}, TypeError, "`tile_size`"),
        ({"normalize": "sample"}, ValueError, r"`normalize` must be one of \['tile', 'layer'\]"),
        ({"kernel_view": "first"}, ValueError, r"\['slices', 'mean'\], got 'first'"),
        ({"activation": 3}, TypeError, "`activation` must be a callable"),
        ({"activation": "no_such_function"}, ValueError, "`activation` must be a callable"),
        ({"colormap": "jet"}, ValueError, "`colormap`: Unknown colormap 'jet'"),
        ({"every_n_epochs": 0}, ValueError, "FeatureMapMonitor: `every_n_epochs`"),
        ({"num_probes": 0}, ValueError, "FeatureMapMonitor: `num_probes`"),
    ],
)
def test_bad_arguments_fail_in_init(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FeatureMapMonitor(**kwargs)
