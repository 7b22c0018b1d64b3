"""Explanation-quality metrics: pure tensor functions, a registry, and the monitor's runner.

Every metric returns one value per probe sample ``[N]``. Registered names (see
:func:`list_metrics`) and their direction:

=================  ==========  ================================================================
metric             better      what it measures
=================  ==========  ================================================================
infidelity         lower       attribution . perturbation vs. the output change (Captum)
sensitivity_max    lower       change of the explanation under small input noise (Captum)
completeness       lower       ``|sum(attribution) - (f(x) - f(baseline))|`` (convergence delta)
sparseness         higher      Gini index of ``|attribution|``
complexity         lower       entropy of the normalised ``|attribution|``
deletion           lower       AUC of the target probability as top features are removed
insertion          higher      AUC of the target probability as top features are added
randomization      lower       rank similarity to the explanation of a top-layer-randomised copy
drift              neutral     rank/cosine similarity to the previous and the first run
agreement          neutral     rank similarity between the methods
=================  ==========  ================================================================
"""

from lightning_xai.metrics import catalog as _catalog  # noqa: F401  (registers the built-ins)
from lightning_xai.metrics.captum_metrics import (
    completeness,
    gaussian_perturbation,
    infidelity,
    sensitivity_max,
    uniform_perturbation,
)
from lightning_xai.metrics.complexity import complexity, sparseness
from lightning_xai.metrics.context import MetricContext
from lightning_xai.metrics.perturbation import deletion, insertion, perturbation_curve
from lightning_xai.metrics.randomization import randomization, randomized_copy, top_layer
from lightning_xai.metrics.registry import MetricSpec, get_metric, list_metrics, register_metric
from lightning_xai.metrics.runner import MetricRunner, MetricsArg
from lightning_xai.metrics.similarity import (
    agreement,
    cosine_similarity,
    drift,
    rank,
    spearman,
)

__all__ = [
    "MetricContext",
    "MetricRunner",
    "MetricSpec",
    "MetricsArg",
    "agreement",
    "completeness",
    "complexity",
    "cosine_similarity",
    "deletion",
    "drift",
    "gaussian_perturbation",
    "get_metric",
    "infidelity",
    "insertion",
    "list_metrics",
    "perturbation_curve",
    "randomization",
    "randomized_copy",
    "rank",
    "register_metric",
    "sensitivity_max",
    "sparseness",
    "spearman",
    "top_layer",
    "uniform_perturbation",
]
