"""Captum's algorithms in the registry, with the defaults this library chooses."""

from __future__ import annotations

from captum import attr

from lightning_xai.methods.registry import MethodSpec, register_method

__all__ = ["CAPTUM_METHODS"]

CAPTUM_METHODS: tuple[MethodSpec, ...] = tuple(
    register_method(MethodSpec.from_captum(algorithm, **declared), overwrite=True)
    for algorithm, declared in (
        (attr.Saliency, {}),
        (attr.InputXGradient, {"multiplies_by_inputs": True}),
        (attr.IntegratedGradients, {"default_chunk": 64}),
        (attr.DeepLift, {}),
        (attr.GradientShap, {"random": True}),
        (attr.GuidedBackprop, {}),
        (attr.Deconvolution, {}),
        (attr.Occlusion, {"default_chunk": 16, "multiplies_by_inputs": True}),
        (attr.FeatureAblation, {"default_chunk": 16, "multiplies_by_inputs": True}),
        # Grad-CAM as published keeps only positive evidence: ReLU on by default.
        (attr.LayerGradCam, {"defaults": {"relu_attributions": True}}),
        (attr.GuidedGradCam, {}),
    )
)
