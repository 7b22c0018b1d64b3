"""The Lightning callbacks: thin coordinators over probe, guard, methods, render and sinks."""

from lightning_xai.callbacks.attribution_monitor import AttributionMonitor
from lightning_xai.callbacks.base import ProbeMonitor

__all__ = ["AttributionMonitor", "ProbeMonitor"]
