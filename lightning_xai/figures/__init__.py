"""A run's pictures, composed from the ``render`` primitives and written to a sink."""

from lightning_xai.figures.attributions import Attribution, AttributionPictures

__all__ = ["Attribution", "AttributionPictures"]
