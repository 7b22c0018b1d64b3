"""The Lightning callbacks: thin coordinators over probe, guard, methods, render and sinks."""

from lightning_xai.callbacks.attention_monitor import AttentionMonitor
from lightning_xai.callbacks.attribution_monitor import AttributionMonitor
from lightning_xai.callbacks.base import ProbeMonitor
from lightning_xai.callbacks.feature_map_monitor import FeatureMapMonitor
from lightning_xai.callbacks.language_model_monitor import LanguageModelMonitor

__all__ = [
    "AttentionMonitor",
    "AttributionMonitor",
    "FeatureMapMonitor",
    "LanguageModelMonitor",
    "ProbeMonitor",
]
