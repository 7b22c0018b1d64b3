"""Attribution methods: the registry, Captum's entries, and a configured method."""

from lightning_xai.methods import captum_catalog as _captum_catalog  # noqa: F401  (registers)
from lightning_xai.methods.attention_rollout import AttentionRollout, GradientAttentionRollout
from lightning_xai.methods.baselines import BaselineStrategy, gaussian_blur
from lightning_xai.methods.configured import ConfiguredMethod
from lightning_xai.methods.grad_cam_pp import GradCamPlusPlus
from lightning_xai.methods.quirks import ModelSurvey
from lightning_xai.methods.registry import (
    MethodSpec,
    get_method,
    list_methods,
    register_method,
    snake_case,
)

__all__ = [
    "AttentionRollout",
    "BaselineStrategy",
    "ConfiguredMethod",
    "GradCamPlusPlus",
    "GradientAttentionRollout",
    "MethodSpec",
    "ModelSurvey",
    "gaussian_blur",
    "get_method",
    "list_methods",
    "register_method",
    "snake_case",
]
