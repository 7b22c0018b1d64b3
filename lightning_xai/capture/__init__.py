"""What is read from the model during a capture pass: attention weights, feature maps."""

from lightning_xai.capture.attention import capture_attention

__all__ = ["capture_attention"]
