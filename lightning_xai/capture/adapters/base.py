"""What an attention implementation must tell the capture: its layers, how to read their
weights, and what to switch on the model for one pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["AttentionAdapter", "Record"]

Record = Callable[[Tensor, Tensor], None]
"""``record(weights [N, H, L, S], graph)``: ``graph`` is the tensor the model computed with
(the weights themselves, or the tensor they are a view of), for gradients with respect to them."""


class AttentionAdapter:
    """One attention implementation (``nn.MultiheadAttention``, Hugging Face, timm).

    Subclasses implement :meth:`owns` and :meth:`hook`; :meth:`find` and :meth:`switched`
    have defaults (every owned module; nothing switched).
    """

    name: str = "attention"

    def owns(self, module: nn.Module) -> bool:
        """Whether ``module`` is an attention layer of this implementation."""
        raise NotImplementedError

    def find(self, model: nn.Module) -> dict[str, nn.Module]:
        """Dotted name -> attention layer, for every layer of this implementation in ``model``."""
        return {name: m for name, m in model.named_modules() if self.owns(m)}

    def hook(self, module: nn.Module, record: Record, grad: bool) -> list[RemovableHandle]:
        """Installs hooks that call ``record`` with the per-head weights of each call.

        With ``grad``, ``record``'s second argument must be part of the autograd graph of the
        model's output; otherwise the model's output must stay what it computes without hooks.
        """
        raise NotImplementedError

    @contextmanager
    def switched(
        self, model: nn.Module, modules: Sequence[nn.Module], grad: bool
    ) -> Iterator[None]:
        """Model settings for the pass (restored on exit, even on error)."""
        yield
