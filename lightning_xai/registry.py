"""Specs by name: the one registry logic behind the method and the metric registries."""

from __future__ import annotations

import re
from typing import Generic, Protocol, TypeVar

__all__ = ["Registry", "snake_case"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


SpecT = TypeVar("SpecT", bound=_Named)


def snake_case(name: str) -> str:
    """``"LayerGradCam"`` -> ``"layer_grad_cam"``; snake_case names are returned as they are."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


class Registry(Generic[SpecT]):
    """Specs of one kind by name; each is found by its name or that name's snake_case.

    Args:
        kind: what the specs are, in messages (``"method"``, ``"metric"``).
        spec_type: the class every registered spec is an instance of.

    Example:
        >>> from lightning_xai.methods import MethodSpec
        >>> from captum.attr import Saliency
        >>> methods = Registry("method", MethodSpec)
        >>> _ = methods.register(MethodSpec("MySaliency", Saliency))
        >>> methods.get("my_saliency").name
        'MySaliency'
    """

    def __init__(self, kind: str, spec_type: type[SpecT]) -> None:
        self.kind = kind
        self.spec_type = spec_type
        self._specs: dict[str, SpecT] = {}

    def register(self, spec: SpecT, *, overwrite: bool = False) -> SpecT:
        """Adds ``spec`` under its name; returns it.

        Raises:
            TypeError: ``spec`` is not a ``spec_type``.
            ValueError: the name is taken and ``overwrite`` is False.
        """
        where = f"register_{self.kind}"
        if not isinstance(spec, self.spec_type):
            raise TypeError(
                f"{where}: `spec` must be a {self.spec_type.__name__}, got {type(spec).__name__}."
            )
        if not overwrite and spec.name in self._specs:
            raise ValueError(
                f"{where}: a {self.kind} named {spec.name!r} is registered already; pass "
                "`overwrite=True` to replace it."
            )
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> SpecT:
        """The spec registered as ``name`` (or its snake_case).

        Raises:
            ValueError: unknown name; the message lists the registered names.
        """
        if isinstance(name, str):
            if name in self._specs:
                return self._specs[name]
            for spec in self._specs.values():
                if snake_case(spec.name) == snake_case(name):
                    return spec
        raise ValueError(f"Unknown {self.kind} {name!r}. Known {self.kind}s: {self.names()}.")

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._specs)
