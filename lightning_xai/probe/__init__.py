"""The probe: the fixed validation samples a monitor explains, read from any batch and checked."""

from lightning_xai.probe.probe import BatchTransform, Probe, ProbeSamples

__all__ = ["BatchTransform", "Probe", "ProbeSamples"]
