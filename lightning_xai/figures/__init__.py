"""A run's pictures, composed from the ``render`` primitives and written to a sink."""

from lightning_xai.figures.attention import AttentionPictures
from lightning_xai.figures.attributions import AttributionPictures
from lightning_xai.figures.feature_maps import FeatureMapPictures
from lightning_xai.figures.titles import probe_titles

__all__ = ["AttentionPictures", "AttributionPictures", "FeatureMapPictures", "probe_titles"]
