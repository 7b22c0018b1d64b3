"""The sink protocol: where a monitor's pictures and numbers go."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """Receives CPU tensors and plain numbers, tagged and stepped like TensorBoard.

    Images are ``[3, H, W]`` float in [0, 1] or uint8. Implementations must not hold the
    training.
    """

    def add_image(self, tag: str, image: Tensor, step: int) -> None: ...

    def add_scalar(self, tag: str, value: float, step: int) -> None: ...

    def add_histogram(self, tag: str, values: Tensor, step: int) -> None: ...

    def add_text(self, tag: str, text: str, step: int) -> None: ...

    def flush(self) -> object:
        """Makes every write so far durable (the return value, if any, is ignored)."""
