"""Every Captum attribution algorithm in the registry, plus Grad-CAM++, with this library's
defaults. What each needs (layer, neuron, baselines, window, mask, chunking knob) is read off
Captum's signatures by :meth:`MethodSpec.from_captum`; what the signatures do not say is
declared here.

Chunk sizes (``internal_batch_size``, ``perturbations_per_eval``) were measured on a 2-core
CPU, see bench/README.md "Method chunk sizes": with a probe of N samples, one forward carries
``chunk x N`` inputs; for Lime and KernelShap, which explain one sample at a time, ``chunk``.
"""

from __future__ import annotations

from typing import Any

from captum import attr

from lightning_xai.methods.grad_cam_pp import GradCamPlusPlus
from lightning_xai.methods.registry import MethodSpec, register_method

__all__ = ["CAPTUM_METHODS", "PERTURBATION_CHUNK", "STEPS_CHUNK", "SURROGATE_CHUNK"]

STEPS_CHUNK = 64
"""``internal_batch_size`` of the path-integral methods (inputs per forward)."""
PERTURBATION_CHUNK = 16
"""``perturbations_per_eval`` of the perturbation family (perturbations x probe per forward)."""
SURROGATE_CHUNK = 64
"""``perturbations_per_eval`` of Lime and KernelShap (one sample at a time)."""

_DEEPLIFT = {"model_rules": "deeplift"}
_DEEPLIFT_SHAP = {"model_rules": "deeplift", "min_baselines": 2}
_GUIDED = {"model_rules": "guided"}
_RANDOM = {"random": True}
_STEPS = {"default_chunk": STEPS_CHUNK}
_PERTURB = {"default_chunk": PERTURBATION_CHUNK, "multiplies_by_inputs": True}
_SURROGATE = {"default_chunk": SURROGATE_CHUNK, "multiplies_by_inputs": True, "random": True}
# Grad-CAM as published keeps only positive evidence: ReLU on by default.
_CAM = {"defaults": {"relu_attributions": True}}

_ENTRIES: tuple[tuple[type, dict[str, Any]], ...] = (
    # primary attribution
    (attr.IntegratedGradients, _STEPS),
    (attr.GradientShap, _RANDOM),
    (attr.DeepLift, _DEEPLIFT),
    (attr.DeepLiftShap, _DEEPLIFT_SHAP),
    (attr.GuidedGradCam, {**_GUIDED, "needs_spatial": True}),
    (attr.FeatureAblation, _PERTURB),
    (attr.GuidedBackprop, _GUIDED),
    (attr.Deconvolution, _GUIDED),
    (attr.Saliency, {}),
    (attr.InputXGradient, {"multiplies_by_inputs": True}),
    (attr.FeaturePermutation, {**_PERTURB, **_RANDOM, "needs_batch": True}),
    (attr.Occlusion, _PERTURB),
    (attr.ShapleyValueSampling, {**_PERTURB, **_RANDOM}),
    (attr.Lime, {**_SURROGATE, "requires": ("sklearn",)}),
    (attr.KernelShap, {**_SURROGATE, "requires": ("sklearn",)}),
    # layer attribution
    (attr.LayerIntegratedGradients, _STEPS),
    (attr.LayerGradientShap, _RANDOM),
    (attr.LayerDeepLift, _DEEPLIFT),
    (attr.LayerDeepLiftShap, _DEEPLIFT_SHAP),
    (attr.LayerGradCam, _CAM),
    # Captum 0.9 fails ("Tensor target dimension ... is not valid") with one target per sample
    # and perturbations_per_eval > 1 here: its default stays Captum's 1.
    (attr.LayerFeatureAblation, {}),
    (attr.InternalInfluence, _STEPS),
    (attr.LayerConductance, _STEPS),
    (attr.LayerGradientXActivation, {}),
    (attr.LayerActivation, {}),
    # neuron attribution
    (attr.NeuronIntegratedGradients, _STEPS),
    (attr.NeuronGradientShap, _RANDOM),
    (attr.NeuronDeepLift, _DEEPLIFT),
    (attr.NeuronDeepLiftShap, _DEEPLIFT_SHAP),
    (attr.NeuronGradient, {}),
    (attr.NeuronFeatureAblation, _PERTURB),
    (attr.NeuronGuidedBackprop, _GUIDED),
    (attr.NeuronDeconvolution, _GUIDED),
    (attr.NeuronConductance, _STEPS),
    # not in Captum
    (GradCamPlusPlus, {**_CAM, "output": "layer", "needs_spatial": True}),
)

CAPTUM_METHODS: tuple[MethodSpec, ...] = tuple(
    register_method(MethodSpec.from_captum(algorithm, **declared), overwrite=True)
    for algorithm, declared in _ENTRIES
)
