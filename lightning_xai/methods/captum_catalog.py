"""Every Captum attribution algorithm in the registry, plus Grad-CAM++ and attention rollout
(plain and gradient-weighted), with this library's
defaults. What each needs (layer, neuron, baselines, window, mask, chunking knob) is read off
Captum's signatures by :meth:`MethodSpec.from_captum`; what the signatures do not say is
declared here.

Chunk sizes are normally sized by the bytes of the model's widest layer output per row
(:meth:`~lightning_xai.methods.chunking.ChunkTuner.sized`); the rows below, measured on a
2-core CPU (bench/README.md, "Method chunk sizes"), are the fallback when that measurement
fails and say which methods have a knob. They are given in rows (inputs) per forward pass:
``internal_batch_size`` counts rows; path methods, NoiseTunnel's ``nt_samples_batch_size``
(at :data:`~lightning_xai.methods.chunking.NOISE_TUNNEL_ROWS` by default) and
``perturbations_per_eval`` batch whole steps, samples or perturbations (windows, features)
of a probe of N samples, in balanced passes
(:func:`~lightning_xai.methods.chunking.balanced_units`); Lime and KernelShap explain one
sample at a time: ``rows``.
"""

from __future__ import annotations

from typing import Any

from captum import attr

from lightning_xai.methods.attention_rollout import AttentionRollout, GradientAttentionRollout
from lightning_xai.methods.conductance import LayerConductance
from lightning_xai.methods.grad_cam_pp import GradCamPlusPlus
from lightning_xai.methods.gradient_shap import GradientShap
from lightning_xai.methods.registry import MethodSpec, register_method

__all__ = [
    "CAPTUM_METHODS",
    "GRADIENT_ROWS",
    "PERTURBATION_ROWS",
    "TRANSFORMER_METHODS",
]

# Measured (bench/README.md): 128 rows per pass was the best or within ~10% of it for the path,
# occlusion/ablation and Lime/KernelShap sweeps in both recorded runs (except IG with one thread:
# 1.3x the best); ShapleyValueSampling, FeaturePermutation and NoiseTunnel moved from run to run.
# Captum's defaults there (all rows at once; one perturbation per pass) were 1.4-10x slower.
GRADIENT_ROWS = 128
"""Rows per forward+backward of the path methods (``internal_batch_size``)."""
PERTURBATION_ROWS = 128
"""Rows per forward of the perturbation family (forward only: no activations kept)."""

_DEEPLIFT = {"model_rules": "deeplift"}
_DEEPLIFT_SHAP = {"model_rules": "deeplift", "min_baselines": 2}
_GUIDED = {"model_rules": "guided"}
_RANDOM = {"random": True}
_STEPS = {"default_chunk": GRADIENT_ROWS}
_PERTURB = {"default_chunk": PERTURBATION_ROWS, "multiplies_by_inputs": True}
_SURROGATE = {**_PERTURB, "per_input": True, "random": True}
# Grad-CAM as published keeps only positive evidence: ReLU on by default.
_CAM = {"defaults": {"relu_attributions": True}}

_ENTRIES: tuple[tuple[type, dict[str, Any]], ...] = (
    # primary attribution
    (attr.IntegratedGradients, _STEPS),
    (GradientShap, {**_RANDOM, **_STEPS}),  # ours: Captum's draws, chunked passes
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
    (LayerConductance, _STEPS),  # ours: each point of the path evaluated once
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

# Transformers only (they need attention layers): a score per token, or a map over the patch
# grid that the monitor upsamples to the image like a layer attribution.
TRANSFORMER_METHODS: tuple[MethodSpec, ...] = tuple(
    register_method(MethodSpec.from_captum(algorithm, output="layer"), overwrite=True)
    for algorithm in (AttentionRollout, GradientAttentionRollout)
)
