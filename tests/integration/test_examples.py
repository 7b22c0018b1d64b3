"""Smoke runs of every example trainer, in process, with the event files read back."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch

from example_trainers import attention, cifar, mnist, resnet, tabular, text
from lightning_xai.methods import snake_case
from tests.support.helpers import read_events


@pytest.mark.parametrize("trainer", [attention, cifar, mnist, resnet, tabular, text])
def test_every_trainer_has_help_with_the_common_options(
    trainer: object, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        trainer.main(["--help"])  # type: ignore[attr-defined]
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert f"python -m {trainer.__name__}" in usage  # type: ignore[attr-defined]
    for option in ("--max-epochs", "--smoke", "--log-dir", "--num-probes"):
        assert option in usage


def _tags(log_dir: Path, kind: str = "images") -> set[str]:
    return set(read_events(log_dir).Tags()[kind])


def _write_mnist(root: Path, n_train: int = 96, n_test: int = 64) -> None:
    """Tiny MNIST files in torchvision's raw layout (the idx format, not compressed)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), generator=generator, dtype=torch.uint8)
        labels = torch.arange(n, dtype=torch.uint8) % 10
        header = struct.pack(">IIII", 2051, n, 28, 28)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.numpy().tobytes())
        header = struct.pack(">II", 2049, n)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.numpy().tobytes())


def test_mnist_reads_torchvision_files_and_logs_every_method_and_feature_map(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _write_mnist(tmp_path / "data")
    args = ["--smoke", "--num-probes", "2", "--no-download", "--log-dir", str(tmp_path / "logs")]
    metrics = mnist.main([*args, "--data-dir", str(tmp_path / "data")])
    assert "val_acc" in metrics
    assert f"tensorboard --logdir {tmp_path / 'logs'}" in capsys.readouterr().out
    images = _tags(tmp_path / "logs" / "mnist" / "version_0")
    for method in mnist.METHODS:
        assert f"xai/attributions/{snake_case(method)}/sample_01" in images
    assert {
        "xai/panels/sample_00",
        "xai/filters/net.cn2",
        "xai/feature_maps/net.cn1/sample_00",
    } <= images


def test_mnist_without_files_points_to_the_digits_demo_and_fake_data(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        mnist.main(["--smoke", "--no-download", "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"MNIST is not under {tmp_path}" in err
    assert "example_trainers.digits" in err and "--fake-data" in err


def test_cifar_on_fake_data_logs_the_four_methods(tmp_path: Path) -> None:
    cifar.main(["--smoke", "--fake-data", "--num-probes", "2", "--log-dir", str(tmp_path)])
    images = _tags(tmp_path / "cifar" / "version_0")
    for method in cifar.METHODS:
        assert f"xai/attributions/{snake_case(method)}/sample_01" in images
    assert "xai/panels/sample_01" in images


def test_resnet_on_fake_data_logs_ig_shap_occlusion_and_grad_cam_on_layer4(
    tmp_path: Path,
) -> None:
    args = ["--smoke", "--fake-data", "--num-probes", "2", "--batch-size", "8"]
    resnet.main([*args, "--log-dir", str(tmp_path)])
    log_dir = tmp_path / "resnet" / "version_0"
    images = _tags(log_dir)
    for method in resnet.methods():
        assert f"xai/attributions/{snake_case(method)}/sample_01" in images
    assert not any(tag.startswith("xai/errors/") for tag in _tags(log_dir, "scalars"))


def test_resnet_refuses_unknown_weights(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        resnet.main(["--weights", "IMAGENET1K_V9"])
    assert "IMAGENET1K_V1" in capsys.readouterr().err


def test_attention_trainer_logs_cls_maps_and_matrices_of_both_layers(tmp_path: Path) -> None:
    attention.main(["--smoke", "--num-probes", "2", "--log-dir", str(tmp_path)])
    log_dir = tmp_path / "attention" / "version_0"
    images = _tags(log_dir)
    for layer in ("net.encoder.layers.0.self_attn", "net.encoder.layers.1.self_attn"):
        assert f"xai/attention/{layer}/sample_01" in images
        assert f"xai/attention/{layer}/cls/sample_01" in images
        assert f"xai/attention/{layer}/entropy" in _tags(log_dir, "scalars")
    assert "xai/attributions/integrated_gradients/sample_01" in images
    assert "xai/attributions/gradient_attention_rollout/sample_01" in images
    assert "xai/attention_model/sample_01" in images


@pytest.mark.slow
def test_attention_trainer_with_timm_logs_its_blocks_and_rollouts(tmp_path: Path) -> None:
    pytest.importorskip("timm")
    attention.main(
        ["--smoke", "--num-probes", "2", "--backbone", "timm", "--log-dir", str(tmp_path)]
    )
    log_dir = tmp_path / "attention" / "version_0"
    images = _tags(log_dir)
    for block in (0, 1):
        assert f"xai/attention/net.blocks.{block}.attn/cls/sample_01" in images
    assert "xai/attributions/attention_rollout/sample_01" in images


def test_text_trainer_logs_token_strips_tables_and_attention_with_tokens(tmp_path: Path) -> None:
    text.main(["--smoke", "--num-probes", "2", "--corpus-size", "200", "--log-dir", str(tmp_path)])
    log_dir = tmp_path / "text" / "version_0"
    images = _tags(log_dir)
    assert "xai/tokens/layer_integrated_gradients/sample_01" in images
    assert "xai/attention/net.encoder.layers.1.self_attn/sample_01" in images
    tables = _tags(log_dir, "tensors")
    assert "xai/tokens/layer_integrated_gradients/sample_01/text_summary" in tables
    events = read_events(log_dir).Tensors(
        "xai/tokens/layer_integrated_gradients/sample_00/text_summary"
    )
    table = events[-1].tensor_proto.string_val[0].decode()
    assert "| [CLS] |" in table and "&lt;pad&gt;" not in table  # padding is left out
    assert not any(tag.startswith("xai/errors/") for tag in _tags(log_dir, "scalars"))


@pytest.mark.parametrize(
    ("dataset", "feature"), [("breast_cancer", "worst_area"), ("diabetes", "bmi")]
)
def test_tabular_trainer_charts_every_method_with_feature_names(
    tmp_path: Path, dataset: str, feature: str
) -> None:
    args = ["--smoke", "--num-probes", "2", "--dataset", dataset, "--log-dir", str(tmp_path)]
    tabular.main(args)
    log_dir = tmp_path / f"tabular_{dataset}" / "version_0"
    images, scalars = _tags(log_dir), _tags(log_dir, "scalars")
    for method in tabular.METHODS:
        assert f"xai/attributions/{snake_case(method)}/sample_01" in images
        assert f"xai/attributions/{snake_case(method)}/mean_abs" in images
    assert f"xai/features/integrated_gradients/{feature}" in scalars
    assert f"xai/features/feature_ablation/{feature}" in scalars
    assert not any(tag.startswith("xai/errors/") for tag in scalars)
