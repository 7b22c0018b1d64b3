"""lightning-xai: watch Captum explanations evolve while a Lightning model trains."""

from lightning_xai.callbacks import (
    AttentionMonitor,
    AttributionMonitor,
    FeatureMapMonitor,
    LanguageModelMonitor,
    ProbeMonitor,
)
from lightning_xai.capture.attention import capture_attention
from lightning_xai.guard import attribution_guard
from lightning_xai.methods import (
    BaselineStrategy,
    ConfiguredMethod,
    GradCamPlusPlus,
    MethodSpec,
    get_method,
    list_methods,
    register_method,
)
from lightning_xai.metrics import MetricSpec, get_metric, list_metrics, register_metric
from lightning_xai.probe import Probe
from lightning_xai.sinks import FileSink, Sink, TensorBoardSink
from lightning_xai.targets import resolve_target

__version__ = "0.1.0"

__all__ = [
    "AttentionMonitor",
    "AttributionMonitor",
    "BaselineStrategy",
    "ConfiguredMethod",
    "FeatureMapMonitor",
    "FileSink",
    "GradCamPlusPlus",
    "LanguageModelMonitor",
    "MethodSpec",
    "MetricSpec",
    "Probe",
    "ProbeMonitor",
    "Sink",
    "TensorBoardSink",
    "attribution_guard",
    "capture_attention",
    "get_method",
    "get_metric",
    "list_methods",
    "list_metrics",
    "register_method",
    "register_metric",
    "resolve_target",
]
