"""Attribution methods: the registry, Captum's entries, and a configured method."""

from lightning_xai.methods import captum_catalog as _captum_catalog  # noqa: F401  (registers)
from lightning_xai.methods.configured import ConfiguredMethod
from lightning_xai.methods.registry import (
    MethodSpec,
    get_method,
    list_methods,
    register_method,
    snake_case,
)

__all__ = [
    "ConfiguredMethod",
    "MethodSpec",
    "get_method",
    "list_methods",
    "register_method",
    "snake_case",
]
