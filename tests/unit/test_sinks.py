from __future__ import annotations

import json
import threading
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from lightning_xai.sinks import BackgroundWriter, FileSink, TensorBoardSink
from tests.support.helpers import decode_image, read_events


def test_background_writes_reach_tensorboard_after_flush(tmp_path: Path) -> None:
    writer = BackgroundWriter([TensorBoardSink(SummaryWriter(str(tmp_path)))])
    image = torch.rand(3, 5, 7)
    writer.add_image("xai/img", image, step=3)
    writer.add_scalar("xai/s", 2.5, step=3)
    writer.add_histogram("xai/h", torch.arange(10.0), step=3)
    writer.add_text("xai/t", "hello", step=3)
    assert writer.flush() == []
    events = read_events(tmp_path)
    pixels = decode_image(events.Images("xai/img")[0])
    assert torch.equal(pixels, (image * 255).round().byte().permute(1, 2, 0))
    assert events.Scalars("xai/s")[0].value == 2.5 and events.Scalars("xai/s")[0].step == 3
    assert events.Histograms("xai/h")[0].histogram_value.num == 10
    writer.close()


def test_jobs_run_off_the_calling_thread_in_order(tmp_path: Path) -> None:
    writer = BackgroundWriter([FileSink(tmp_path)])
    seen: list[tuple[str, int]] = []
    for i in range(5):
        writer.submit(lambda i=i: seen.append((threading.current_thread().name, i)))
    writer.flush()
    assert [i for _, i in seen] == list(range(5))
    assert {name for name, _ in seen} == {"lightning-xai-writer"}
    writer.close()


def test_a_job_that_writes_more_than_the_queue_holds_does_not_deadlock(tmp_path: Path) -> None:
    writer = BackgroundWriter([FileSink(tmp_path)], max_pending=2)
    writer.submit(lambda: [writer.add_scalar("xai/s", float(i), i) for i in range(50)])
    writer.close()
    lines = (tmp_path / "scalars.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(50))


def test_failures_are_handed_back_not_raised(tmp_path: Path) -> None:
    writer = BackgroundWriter([FileSink(tmp_path)])

    def boom() -> None:
        raise OSError("disk full")

    writer.submit(boom)
    writer.add_scalar("xai/s", 1.0, 0)
    errors = writer.flush()
    assert [str(e) for e in errors] == ["disk full"] and writer.flush() == []
    assert (tmp_path / "scalars.jsonl").exists()  # later writes still happen


def test_inline_mode_runs_in_the_caller(tmp_path: Path) -> None:
    writer = BackgroundWriter([FileSink(tmp_path)], background=False)
    names: list[str] = []
    writer.submit(lambda: names.append(threading.current_thread().name))
    assert names == [threading.current_thread().name]


def test_loggers_with_log_image_get_the_images(tmp_path: Path) -> None:
    from pytorch_lightning.loggers import CSVLogger

    from lightning_xai import AttributionMonitor
    from tests.support.helpers import DigitsData, LitClassifier, make_trainer

    class ImageLogger(CSVLogger):
        """A real CSV logger that also takes images, as WandbLogger does."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.images: list[tuple[str, int, tuple[int, ...]]] = []

        def log_image(self, key: str, images: list, step: int | None = None) -> None:
            self.images.extend((key, step, image.shape) for image in images)

    logger = ImageLogger(str(tmp_path), name="img", version=0)
    monitor = AttributionMonitor(methods=["Saliency"], num_probes=2)
    make_trainer(tmp_path, [monitor], logger=logger).fit(LitClassifier(), datamodule=DigitsData())
    keys = {(key, step) for key, step, _ in logger.images}
    assert ("xai/attributions/saliency/sample_01", 8) in keys and (
        "xai/panels/sample_00",
        4,
    ) in keys
    assert all(shape[2] == 3 for _, _, shape in logger.images)
    metrics = (tmp_path / "img" / "version_0" / "metrics.csv").read_text()
    assert "xai/time/saliency" in metrics
    assert not (tmp_path / "img" / "version_0" / "xai").exists()  # no file-sink fallback


def test_custom_scalars_layout_groups_each_methods_curves(tmp_path: Path) -> None:
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    TensorBoardSink(SummaryWriter(str(tmp_path)), {"time": r"xai/time/[^/]+$"}).flush()
    events = read_events(tmp_path)
    tensor = events.Tensors(metadata.CONFIG_SUMMARY_TAG)[0]
    layout = layout_pb2.Layout.FromString(tensor.tensor_proto.string_val[0])
    chart = layout.category[0].chart[0]
    assert layout.category[0].title == "lightning-xai" and chart.title == "time"
    assert list(chart.multiline.tag) == [r"xai/time/[^/]+$"]


def test_tensorboard_sink_falls_back_to_the_public_add_image(tmp_path: Path) -> None:
    """Without ``_get_file_writer`` (torch's, not public) the sink writes through
    ``add_image``: the same picture, up to PIL's rounding."""
    class PublicOnly:
        def __init__(self, writer: SummaryWriter) -> None:
            self.add_image, self.flush = writer.add_image, writer.flush

    image = torch.rand(3, 10, 14)
    for folder, writer in (("fast", SummaryWriter(str(tmp_path / "fast"))), ("public", None)):
        if writer is None:
            writer = PublicOnly(SummaryWriter(str(tmp_path / folder)))
        sink = TensorBoardSink(writer)
        sink.add_image("xai/x", image, step=3)
        sink.flush()
    fast, public = (read_events(tmp_path / f).Images("xai/x")[0] for f in ("fast", "public"))
    assert fast.step == public.step == 3
    difference = decode_image(fast).int() - decode_image(public).int()
    assert difference.abs().max() <= 1
