"""TensorBoard images: our PNG through the event file's writer vs ``SummaryWriter.add_image``.

python -m bench.bench_tensorboard

``TensorBoardSink`` writes an ``Image`` summary of a PNG it encodes itself through
``SummaryWriter._get_file_writer()`` (not public); without that method it falls back to the
public ``add_image`` (PIL encoding). This measures both on the pictures the monitors write.
"""

from __future__ import annotations

import tempfile

import torch
from torch.utils.tensorboard import SummaryWriter

from bench.timing import compare, machine
from lightning_xai.sinks import TensorBoardSink


class _PublicOnly:
    """A writer with SummaryWriter's public methods only (the sink's fallback path)."""

    def __init__(self, writer: SummaryWriter) -> None:
        self.add_image, self.flush = writer.add_image, writer.flush


def _write(sink: TensorBoardSink, images: list[torch.Tensor]) -> None:
    for step, image in enumerate(images):
        sink.add_image("xai/x", image, step)
    sink.flush()


def main() -> None:
    print(machine())
    shapes = {"panel 3x112x784": (3, 112, 784), "filters 3x296x296": (3, 296, 296)}
    for name, shape in shapes.items():
        # Enlarged 4x (nearest), as the monitors' pictures are.
        small = [torch.rand(shape[0], shape[1] // 4, shape[2] // 4) for _ in range(8)]
        images = [s.repeat_interleave(4, 1).repeat_interleave(4, 2) for s in small]
        fast = TensorBoardSink(SummaryWriter(tempfile.mkdtemp()))
        public = TensorBoardSink(_PublicOnly(SummaryWriter(tempfile.mkdtemp())))

        times = compare(
            {
                "file writer": lambda f=fast, i=images: _write(f, i),
                "add_image": lambda p=public, i=images: _write(p, i),
            }
        )
        ratio = times["add_image"] / times["file writer"]
        print(
            f"{name}: file writer {times['file writer'] / 8 * 1e3:.1f} ms/image, add_image "
            f"{times['add_image'] / 8 * 1e3:.1f} ms/image ({ratio:.1f}x)"
        )


if __name__ == "__main__":
    main()
