"""The metric functions against Captum and against values worked out by hand."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from captum.attr import GradientShap, IntegratedGradients, Saliency
from captum.metrics import infidelity as captum_infidelity
from captum.metrics import infidelity_perturb_func_decorator
from captum.metrics import sensitivity_max as captum_sensitivity_max
from torch import Tensor, nn

from lightning_xai import MethodSpec, register_method
from lightning_xai.methods import ConfiguredMethod
from lightning_xai.metrics import (
    MetricContext,
    MetricRunner,
    agreement,
    completeness,
    complexity,
    cosine_similarity,
    deletion,
    get_metric,
    infidelity,
    insertion,
    list_metrics,
    randomized_copy,
    rank,
    sensitivity_max,
    sparseness,
    spearman,
)
from tests.support.helpers import TinyConvNet, digits_tensors


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    return TinyConvNet().eval()


@pytest.fixture(scope="module")
def probe(net: nn.Module) -> tuple[Tensor, Tensor]:
    x, _ = digits_tensors(6)
    with torch.no_grad():
        return x, net(x).argmax(1)


# -- similarity -------------------------------------------------------------------------------
def test_rank_and_spearman_with_ties() -> None:
    assert rank(torch.tensor([[3.0, 1.0, 3.0, 2.0]])).tolist() == [[2.5, 0.0, 2.5, 1.0]]
    a = torch.tensor([[1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]])
    b = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    # ranks [0, 1.5, 1.5, 3] vs [0, 1, 2, 3]: 4.5 / sqrt(4.5 * 5)
    expected = [4.5 / math.sqrt(22.5), -1.0, 0.0]
    torch.testing.assert_close(spearman(a, b), torch.tensor(expected))
    assert spearman(a, a).tolist() == [1.0, 1.0, 1.0]  # a constant row agrees with itself
    zeros = torch.zeros(2, 1, 3, 3)
    assert spearman(zeros, zeros).tolist() == [1.0, 1.0]


def test_spearman_matches_scipy_where_available() -> None:
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 5, (4, 30), generator=g).float()  # many ties
    b = a + torch.randint(0, 3, (4, 30), generator=g).float()
    ours = spearman(a, b)
    for k in range(4):
        assert ours[k].item() == pytest.approx(stats.spearmanr(a[k], b[k]).statistic, abs=1e-6)


def test_cosine_similarity_without_nan() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [2.0, 2.0]])
    b = torch.tensor([[0.0, 3.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert cosine_similarity(a, b).tolist() == [0.0, 1.0, 0.0, pytest.approx(1.0)]


def test_agreement_pairs_methods_and_compares_magnitudes() -> None:
    a = torch.randn(3, 1, 4, 4)
    result = agreement({"ig": a, "saliency": -a, "cam": torch.rand(3, 1, 4, 4)})
    assert list(result) == ["ig_vs_saliency", "ig_vs_cam", "saliency_vs_cam"]
    torch.testing.assert_close(result["ig_vs_saliency"], torch.ones(3))


# -- sparseness and complexity ------------------------------------------------------------------
def test_gini_by_hand_with_ties_and_all_zero() -> None:
    a = torch.tensor(
        [
            [0.0, 0.0, 0.0, 1.0],  # sum (2k - 5) a_k / (4 sum a) = 3 / 4
            [1.0, 2.0, 3.0, 4.0],  # (-3 - 2 + 3 + 12) / 40
            [2.0, -2.0, 2.0, -2.0],  # all tied in magnitude
            [0.0, 0.0, 0.0, 0.0],  # defined as uniform
            [0.0, 3.0, 0.0, 3.0],  # (3 * 1 + 3 * 3) / 24
        ]
    )
    torch.testing.assert_close(sparseness(a), torch.tensor([0.75, 0.25, 0.0, 0.0, 0.5]))


def test_entropy_by_hand_with_ties_and_all_zero() -> None:
    a = torch.tensor(
        [
            [0.0, 0.0, 0.0, 5.0],
            [1.0, 1.0, 1.0, 1.0],
            [2.0, -2.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [1.0, 1.0, 2.0, 0.0],  # p = 1/4, 1/4, 1/2
        ]
    ).reshape(5, 1, 2, 2)
    h = -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))
    expected = torch.tensor([0.0, math.log(4), math.log(2), math.log(4), h])
    values = complexity(a)
    torch.testing.assert_close(values, expected)
    assert torch.isfinite(values).all() and (values >= 0).all()


# -- deletion and insertion -----------------------------------------------------------------
def _linear(x: Tensor) -> Tensor:
    return x.flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize(
    ("attribution", "baseline", "deleted", "inserted"),
    [
        # order 0,1,2,3: deletion curve 10, 7, 0; insertion 0, 3, 10
        ([4.0, 3.0, 2.0, 1.0], 0.0, (8.5 + 3.5) / 2, (1.5 + 6.5) / 2),
        # ties go in index order: [0, 1, 1, 0] -> 1, 2, 0, 3: curves 10, 5, 0 and 0, 5, 10
        ([0.0, 1.0, 1.0, 0.0], 0.0, 5.0, 5.0),
        # all zero: index order, like the first row
        ([0.0, 0.0, 0.0, 0.0], 0.0, 6.0, 4.0),
        # baseline 1: deletion 10, 9, 4; insertion 4, 5, 10
        ([4.0, 3.0, 2.0, 1.0], 1.0, (9.5 + 6.5) / 2, (4.5 + 7.5) / 2),
    ],
)
def test_deletion_and_insertion_by_hand(
    attribution: list[float], baseline: float, deleted: float, inserted: float
) -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    attr = torch.tensor([attribution])
    options = {"steps": 2, "baseline": baseline, "activation": "none"}
    assert deletion(_linear, x, attr, **options).item() == pytest.approx(deleted)
    assert insertion(_linear, x, attr, **options).item() == pytest.approx(inserted)


def test_deletion_on_images_removes_pixels_and_uses_the_target_probability() -> None:
    # two channels, 1 x 3 pixels; pixel scores summed over channels: [1, 5, -2] -> 1, 0, 2
    x = torch.tensor([[[[1.0, 2.0, 0.5]], [[1.0, 1.0, 0.5]]]])
    attr = torch.tensor([[[[1.0, 2.0, -1.0]], [[0.0, 3.0, -1.0]]]])

    def two_classes(z: Tensor) -> Tensor:
        s = z.flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], dim=1)

    sums = [6.0, 3.0, 1.0, 0.0]  # steps=3: remove pixel 1, then 0, then 2
    curve = [1 / (1 + math.exp(-s)) for s in sums]  # softmax of (s, 0), class 0
    expected = sum((a + b) / 2 for a, b in itertools.pairwise(curve)) / 3
    value = deletion(two_classes, x, attr, torch.tensor([0]), steps=3)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    # F = 3 features, 2 steps: floor(k * 3 / 2) = 0, 1, 3 features taken
    curve2 = [curve[0], curve[1], curve[3]]
    expected2 = sum((a + b) / 2 for a, b in itertools.pairwise(curve2)) / 2
    assert deletion(two_classes, x, attr, 0, steps=2).item() == pytest.approx(expected2, rel=1e-6)


def test_curves_batch_all_perturbed_inputs_in_one_forward(net: nn.Module, probe) -> None:
    x, target = probe
    attr = Saliency(net).attribute(x, target=target)
    calls: list[int] = []

    def counted(z: Tensor) -> Tensor:
        calls.append(z.shape[0])
        return net(z)

    one = insertion(counted, x, attr, target, steps=8)
    assert calls == [9 * x.shape[0]]
    chunked = insertion(counted, x, attr, target, steps=8, max_examples_per_batch=10)
    torch.testing.assert_close(one, chunked)
    assert ((one >= 0) & (one <= 1)).all()


# -- Captum's metrics ---------------------------------------------------------------------------
@pytest.mark.parametrize(("normalize", "chunk"), [(False, None), (True, 12)])
def test_infidelity_equals_captum(net: nn.Module, probe, normalize: bool, chunk) -> None:
    x, target = probe
    for algorithm, multiplies in ((IntegratedGradients, True), (Saliency, False)):
        attr = algorithm(net).attribute(x, target=target)

        @infidelity_perturb_func_decorator(multiplies)
        def tutorial_perturb(inputs: Tensor, baselines=None) -> Tensor:
            return inputs - torch.randn_like(inputs) * 0.003  # Captum's tutorial, in torch

        torch.manual_seed(5)
        expected = captum_infidelity(
            net, tutorial_perturb, x, attr, target=target, n_perturb_samples=4,
            normalize=normalize, max_examples_per_batch=chunk,
        )  # fmt: skip
        torch.manual_seed(5)
        ours = infidelity(
            net, x, attr, target, multiplies_by_inputs=multiplies, n_perturb_samples=4,
            normalize=normalize, max_examples_per_batch=chunk,
        )  # fmt: skip
        torch.testing.assert_close(ours, expected)
        assert ours.shape == (x.shape[0],) and (ours >= 0).all()


def test_sensitivity_max_batched_equals_captum(net: nn.Module, probe) -> None:
    x, target = probe
    for algorithm, kwargs in ((IntegratedGradients, {"n_steps": 8}), (Saliency, {})):
        explainer = algorithm(net)
        calls: list[int] = []

        def explain(inputs: Tensor, t: Tensor | None, explainer=explainer, kwargs=kwargs) -> Tensor:
            calls.append(inputs.shape[0])  # noqa: B023  (read right after each call)
            return explainer.attribute(inputs, target=t, **kwargs)

        # Captum's defaults make the perturbed copies in one perturb_func call, as ours does
        torch.manual_seed(3)
        expected = captum_sensitivity_max(
            explainer.attribute, x, target=target, n_perturb_samples=5, **kwargs
        )
        reference = explain(x, target)
        calls.clear()
        torch.manual_seed(3)
        batched = sensitivity_max(explain, x, target, attributions=reference, n_perturb_samples=5)
        assert calls == [5 * x.shape[0]]  # one attribution call for all perturbed copies
        torch.testing.assert_close(batched, expected, rtol=1e-4, atol=1e-6)
        calls.clear()
        torch.manual_seed(3)
        chunked = sensitivity_max(
            explain, x, target, n_perturb_samples=5, max_examples_per_batch=12
        )
        assert calls == [6, 12, 12, 6]  # the unperturbed call, then 30 rows in chunks of 12
        torch.testing.assert_close(chunked, expected, rtol=1e-4, atol=1e-6)


def test_sensitivity_max_through_a_configured_method_equals_captum(net: nn.Module, probe) -> None:
    x, target = probe
    method = ConfiguredMethod("IntegratedGradients", {"n_steps": 6})
    method.bind(net)
    ctx = MetricContext(net, method, x, target, method.attribute(x, target).detach())
    torch.manual_seed(11)
    ours = get_metric("sensitivity_max").compute(ctx, n_perturb_samples=4, perturb_radius=0.05)
    torch.manual_seed(11)
    expected = captum_sensitivity_max(
        IntegratedGradients(net).attribute, x, target=target, n_perturb_samples=4,
        perturb_radius=0.05, n_steps=6,
    )  # fmt: skip
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


def test_completeness_is_the_convergence_delta(net: nn.Module, probe) -> None:
    x, target = probe
    attr, delta = IntegratedGradients(net).attribute(
        x, target=target, n_steps=16, return_convergence_delta=True
    )
    with torch.no_grad():
        outputs, at_zero = net(x), net(torch.zeros_like(x))
    gap = (outputs - at_zero).gather(1, target[:, None])[:, 0]
    by_hand = (attr.flatten(1).sum(1) - gap).abs().detach()
    torch.testing.assert_close(completeness(delta, x.shape[0]), by_hand, rtol=1e-4, atol=1e-5)
    torch.manual_seed(0)
    _, shap_delta = GradientShap(net).attribute(
        x, torch.zeros_like(x[:1]), target=target, n_samples=3, return_convergence_delta=True
    )
    assert shap_delta.shape == (3 * x.shape[0],)
    expected = shap_delta.reshape(x.shape[0], 3).abs().mean(1)
    torch.testing.assert_close(completeness(shap_delta, x.shape[0]), expected)


# -- randomization ------------------------------------------------------------------------------
class EdgeDetector:
    """A stand-in explanation that ignores the model: Sobel edge magnitude of the input."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def attribute(self, inputs: Tensor, target: Tensor | None = None) -> Tensor:
        kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        kernel = torch.stack([kx, kx.T])[:, None]
        grads = F.conv2d(inputs.sum(1, keepdim=True), kernel, padding=1)
        return grads.norm(dim=1, keepdim=True).expand_as(inputs)


def _trained_net() -> nn.Module:
    torch.manual_seed(0)
    model = TinyConvNet()
    x, y = digits_tensors(512)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(4):
        for k in range(0, 512, 64):
            opt.zero_grad()
            F.cross_entropy(model(x[k : k + 64]), y[k : k + 64]).backward()
            opt.step()
    return model.eval()


def test_randomization_leaves_the_model_and_rng_alone_and_separates_methods() -> None:
    register_method(MethodSpec("EdgeDetector", EdgeDetector), overwrite=True)
    model = _trained_net()
    x, _ = digits_tensors(520)
    x = x[512:]
    with torch.no_grad():
        target = model(x).argmax(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = get_metric("randomization")
    scores = {}
    options = {"EdgeDetector": None, "IntegratedGradients": {"n_steps": 16}, "Saliency": None}
    for name, given in options.items():
        method = ConfiguredMethod(name, given)
        method.bind(model)
        ctx = MetricContext(model, method, x, target, method.attribute(x, target).detach())
        rng = torch.get_rng_state()
        scores[name] = spec.compute(ctx, layer=None, seed=0)
        assert torch.equal(torch.get_rng_state(), rng), "the check consumed the global RNG"
        algorithm = method._algorithm
        assert getattr(algorithm, "forward_func", getattr(algorithm, "model", None)) is model
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    torch.testing.assert_close(scores["EdgeDetector"], torch.ones(8))
    # IG multiplies by the input: the digit's zero background stays zero after randomisation,
    # which keeps its rank similarity high (Adebayo et al. saw the same for gradient x input);
    # it still scores clearly below the model-blind edge detector, and plain gradients far lower.
    ig = scores["IntegratedGradients"]
    assert ig.mean() < 0.95 and (ig < 0.99).all(), ig
    assert scores["Saliency"].mean() < 0.6, scores["Saliency"]


def test_randomized_copy_changes_only_the_top_layer() -> None:
    model = TinyConvNet()
    twin = randomized_copy(model, seed=4)
    again = randomized_copy(model, seed=4)
    for (name, p), (_, q), (_, r) in zip(
        model.named_parameters(), twin.named_parameters(), again.named_parameters(), strict=True
    ):
        assert torch.equal(q, r), name  # the dedicated generator makes it reproducible
        assert torch.equal(p, q) == (not name.startswith("fc.")), name
    bound = 1 / math.sqrt(8 * 6 * 6)
    assert twin.fc.weight.abs().max() <= bound
    with pytest.raises(ValueError, match=r"`layer` 'head' is not a module.*Valid layers"):
        randomized_copy(model, layer="head")


# -- drift -------------------------------------------------------------------------------------
def test_drift_first_run_logs_nothing_identical_maps_give_one(net: nn.Module, probe) -> None:
    x, target = probe
    method = ConfiguredMethod("Saliency")
    method.bind(net)
    attr = method.attribute(x, target).detach()
    spec = get_metric("drift")
    assert spec.compute(MetricContext(net, method, x, target, attr)) == {}
    same = spec.compute(MetricContext(net, method, x, target, attr, previous=attr, first=attr))
    assert set(same) == {"spearman_previous", "cosine_previous", "spearman_first", "cosine_first"}
    for values in same.values():
        torch.testing.assert_close(values, torch.ones(x.shape[0]))


# -- registry and options ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metrics", "error", "match"),
    [
        (["fidelity"], ValueError, r"Known metrics: \['agreement', 'completeness'"),
        ({"deletion": {"step": 3}}, ValueError, r"Valid options: \['activation', 'baseline'"),
        ({"deletion": {"steps": 0}}, ValueError, "`steps` of metric 'deletion' must be a positive"),
        ({"deletion": {"activation": "relu"}}, ValueError, "'softmax'"),
        ({"sparseness": {"every_n_epochs": 0}}, ValueError, "every_n_epochs"),
        ({"sparseness": 3}, TypeError, "options of metric 'sparseness'"),
        (7, TypeError, "`metrics` must be"),
    ],
)
def test_bad_metric_arguments(metrics, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        MetricRunner(metrics)


class ZeroAttribution:
    """A method that explains nothing: all-zero attributions."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def attribute(self, inputs: Tensor, target: Tensor | None = None) -> Tensor:
        return torch.zeros_like(inputs)


@pytest.mark.parametrize("name", [n for n in list_metrics() if not get_metric(n).cross_method])
def test_every_metric_is_finite_on_all_zero_attributions(name: str, net: nn.Module, probe) -> None:
    x, target = probe
    register_method(MethodSpec("ZeroAttribution", ZeroAttribution), overwrite=True)
    spec = get_metric(name)
    method = ConfiguredMethod("ZeroAttribution" if name != "completeness" else "DeepLift")
    method.bind(net)
    zeros = torch.zeros_like(x)
    ctx = MetricContext(net, method, x, target, zeros, previous=zeros, first=zeros)
    options = dict(spec.defaults)
    if "normalize" in options:
        options["normalize"] = True  # the least-squares rescaling divides by sum(attr . I)^2
    result = spec.compute(ctx, **options)
    for values in result.values() if isinstance(result, dict) else [result]:
        assert values.shape == (x.shape[0],) and torch.isfinite(values).all(), (name, values)


def test_re_explanations_use_the_runs_overrides(net: nn.Module, probe) -> None:
    """A time budget that cut IG's steps also cuts them where a metric explains again."""
    x, target = probe
    method = ConfiguredMethod("IntegratedGradients")
    method.bind(net)
    attribution = method.attribute(x, target, n_steps=4)
    ctx = MetricContext(net, method, x, target, attribution, overrides={"n_steps": 4})
    reduced = IntegratedGradients(net).attribute(x, target=target, n_steps=4)
    full = IntegratedGradients(net).attribute(x, target=target)
    again = ctx.explain(x, target)
    torch.testing.assert_close(again, reduced)
    assert not torch.allclose(again, full)
