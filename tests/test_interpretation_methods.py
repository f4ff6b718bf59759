"""Attribution methods on tiny hand-built models whose answers can be worked out by hand."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation import METHOD_NAMES, forward_batched, get_method, method_class
from audiointerp.interpretation.segmentation import grid_edges, grid_segments, segment
from audiointerp.interpretation.shap_method import balanced_background
from audiointerp.interpretation.slice import feature_mean

N_BINS, N_FRAMES = 12, 18
# Grid cell (row 1, column 2) of a 3 x 3 grid on 12 x 18 bins.
RECT = (slice(4, 8), slice(12, 18))
# The methods a CNN can run (the attention methods are tested on the AST: tests/test_ast_*.py).
CNN_METHODS = [n for n in METHOD_NAMES if "cnn" in method_class(n).model_kinds]


class TinyCnn(nn.Module):
    """PANNs-like in miniature: conv-BN-ReLU blocks, max pooling, functional mean/max pooling."""

    gradcam_layer = "conv2"

    def __init__(self, n_classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(6, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu1(self.bn1(self.conv1(x))))  # (B, 4, F/2, T/2)
        x = self.relu2(self.conv2(x)).mean(dim=2)  # (B, 6, T/2)
        x = x.max(dim=2).values + x.mean(dim=2)  # (B, 6)
        return self.fc(x)


class RectModel(nn.Module):
    """Two classes; class 1's logit depends only on the features inside RECT."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(N_BINS * N_FRAMES, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(1, 2)
        weight = torch.zeros(1, 1, N_BINS, N_FRAMES)
        weight[..., RECT[0], RECT[1]] = 1.0 / 24
        with torch.no_grad():
            self.fc1.weight.copy_(weight.reshape(1, -1))
            self.fc1.bias.zero_()
            self.fc2.weight.copy_(torch.tensor([[0.0], [1.0]]))
            self.fc2.bias.copy_(torch.tensor([0.0, -1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(self.flatten(x))))


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    model = TinyCnn()
    with torch.no_grad():  # non-trivial BN statistics, used in eval mode
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(3, 1, N_BINS, N_FRAMES, generator=torch.Generator().manual_seed(1))


def rect_input(n: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(2)
    return 2.0 + torch.rand(n, 1, N_BINS, N_FRAMES, generator=gen)


# Learned interpreters need a fitted checkpoint: tests/test_learned*.py cover them.
POST_HOC = [n for n in METHOD_NAMES if not method_class(n).needs_fitting]

FAST_OPTIONS = {
    "saliency": {},
    "gradcam": {},
    "lime": {"n_samples": 64, "segmentation": "grid", "n_freq": 3, "n_time": 3},
    "shap": {"explainer": "gradient", "n_samples": 16},
    "slice": {},
    "ig": {"n_steps": 16},
    "random": {},
    "energy": {},
}
#: Methods that explain from the clip alone (the oracle reads the ideal mask: own tests).
MAP_METHODS = [n for n in METHOD_NAMES if not method_class(n).needs_ground_truth]
CNN_MAP_METHODS = [n for n in MAP_METHODS if n in CNN_METHODS]


@pytest.mark.parametrize("name", [n for n in CNN_MAP_METHODS if n in POST_HOC])
def test_every_method_shape_dtype_and_determinism(name, cnn, x):
    method = get_method(name, **FAST_OPTIONS[name])
    a1 = method.attribute(cnn, x)
    a2 = method.attribute(cnn, x)
    assert a1.shape == x.shape and a1.dtype == torch.float32
    assert torch.isfinite(a1).all() and a1.abs().sum() > 0
    assert torch.equal(a1, a2)


@pytest.mark.parametrize("name", [n for n in CNN_MAP_METHODS if n in POST_HOC])
def test_every_method_runs_on_the_package_cnn(name):
    from audiointerp.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn6", num_classes=4, num_bins=32, width=0.125).eval()
    x = torch.randn(2, 1, 32, 40, generator=torch.Generator().manual_seed(5)) * 10 - 40
    opts = {**FAST_OPTIONS[name], **({"background": x[:1] - 5} if name == "shap" else {})}
    if name == "shap":
        opts.pop("explainer")
    a = get_method(name, **opts).attribute(model, x)
    assert a.shape == x.shape and torch.isfinite(a).all() and a.abs().sum() > 0
    assert not any(n.endswith((".x", ".y")) for n, _ in model.named_parameters())


@pytest.mark.parametrize("name", ["lime", "slice", "shap"])
def test_batched_equals_unbatched(name, cnn, x):
    opts = {**FAST_OPTIONS[name], **({"n_samples": 10} if name == "lime" else {})}
    ref = get_method(name, **opts, batch_size=1000).attribute(cnn, x)
    for batch_size in (1, 2, 3):  # 3 does not divide 10 samples: chunks straddle clips
        out = get_method(name, **opts, batch_size=batch_size).attribute(cnn, x)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    # a clip explained alone gets the same map as inside the batch
    alone = get_method(name, **opts).attribute(cnn, x[1:2])
    torch.testing.assert_close(alone, ref[1:2], rtol=1e-4, atol=1e-5)


def test_default_target_is_predicted_class_and_explicit_target_changes_map(cnn, x):
    method = get_method("saliency")
    pred = forward_batched(cnn, x).argmax(1)
    torch.testing.assert_close(method.attribute(cnn, x), method.attribute(cnn, x, pred))
    other = (pred + 1) % 3
    assert not torch.allclose(method.attribute(cnn, x), method.attribute(cnn, x, other))
    int_target = method.attribute(cnn, x, 2)
    torch.testing.assert_close(int_target, method.attribute(cnn, x, torch.full((3,), 2)))


def test_saliency_matches_finite_differences(cnn, x):
    model = cnn.double()
    try:
        xd = x[:1].double()
        target = int(model(xd).argmax())
        grad = get_method("saliency").attribute(model, xd, target)
        eps = 1e-6
        for f, t in [(0, 0), (5, 7), (11, 17), (3, 10)]:
            bump = torch.zeros_like(xd)
            bump[0, 0, f, t] = eps
            fd = (model(xd + bump)[0, target] - model(xd - bump)[0, target]) / (2 * eps)
            assert float(grad[0, 0, f, t]) == pytest.approx(float(fd), rel=1e-3, abs=1e-6)
    finally:
        cnn.float()


def test_integrated_gradients_completeness_and_linear_case(cnn, x):
    base = -3.0
    ig = get_method("ig", base=base, n_steps=200).attribute(cnn, x)
    logits = cnn(x)
    target = logits.argmax(1)
    gap = (logits - cnn(torch.full_like(x, base))).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(ig.sum(dim=(1, 2, 3)), gap.detach(), rtol=2e-2, atol=2e-3)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(N_BINS * N_FRAMES, 2)).eval()
    a = get_method("ig", base=base).attribute(linear, x, 1)
    expected = (x - base) * linear[1].weight[1].reshape(1, 1, N_BINS, N_FRAMES)
    torch.testing.assert_close(a, expected.detach(), rtol=1e-4, atol=1e-5)


def test_gradcam_matches_hand_computation():
    torch.manual_seed(3)
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1)
    head = nn.Linear(2, 3)

    class Net(nn.Module):
        gradcam_layer = "conv"

        def __init__(self) -> None:
            super().__init__()
            self.conv, self.relu, self.head = conv, nn.ReLU(), head

        def forward(self, x):
            return self.head(self.relu(self.conv(x)).mean(dim=(2, 3)))

    net = Net().eval()
    x = torch.randn(2, 1, 8, 10)
    target = torch.tensor([0, 2])
    a = get_method("gradcam").attribute(net, x, target)
    act = conv(x)  # (2, 2, 4, 5)
    # d logit_c / d act_k = W[c, k] * [act_k > 0] / (h w); Grad-CAM weight = its spatial mean
    grads = head.weight[target][:, :, None, None] * (act > 0) / act[0, 0].numel()
    alpha = grads.mean(dim=(2, 3), keepdim=True)
    cam = (alpha * act).sum(1, keepdim=True)  # signed: no ReLU
    expected = F.interpolate(cam, size=(8, 10), mode="bilinear", align_corners=False)
    torch.testing.assert_close(a, expected.detach(), rtol=1e-5, atol=1e-6)
    assert (a < 0).any()


def test_gradient_methods_work_under_no_grad_and_on_inference_tensors(cnn, x):
    ref = get_method("saliency").attribute(cnn, x)
    with torch.inference_mode():
        frozen = x.clone()
    with torch.no_grad():
        out = get_method("saliency").attribute(cnn, frozen)
    torch.testing.assert_close(out, ref)


def test_gradcam_layer_errors(cnn, x):
    with pytest.raises(ParameterError, match="not a submodule"):
        get_method("gradcam", layer="nope").attribute(cnn, x)
    plain = nn.Sequential(nn.Flatten(), nn.Linear(N_BINS * N_FRAMES, 2)).eval()
    with pytest.raises(ParameterError, match="gradcam_layer"):
        get_method("gradcam").attribute(plain, x)


def test_slice_finds_the_rectangle_the_model_looks_at():
    model = RectModel().eval()
    x = rect_input()
    result = get_method("slice", fill=0.0).explain(model, x)
    drops = result.details["drops"]
    assert drops.shape == (2, 3, 3)
    assert result.regions == [((4, 8), (12, 18))] * 2
    assert (drops[:, 1, 2] > 0.1).all()
    others = drops.clone()
    others[:, 1, 2] = 0
    assert torch.equal(others, torch.zeros_like(others))
    a = result.attributions
    torch.testing.assert_close(a[:, 0, 4, 12], drops[:, 1, 2])
    assert torch.equal(a, get_method("slice", fill=0.0).attribute(model, x))


def test_slice_grid_covers_uneven_sizes():
    edges = grid_edges(10, 3)
    assert edges[0] == 0 and edges[-1] == 10 and (edges[1:] > edges[:-1]).all()
    seg = grid_segments(10, 7, n_freq=3, n_time=2)
    assert set(seg.unique().tolist()) == set(range(6)) and seg[0, 0] == 0 and seg[-1, -1] == 5
    with pytest.raises(ParameterError, match="n_freq"):
        grid_segments(2, 7, n_freq=3, n_time=2)


def test_lime_recovers_the_rectangle():
    model = RectModel().eval()
    x = rect_input()
    method = get_method(
        "lime", n_samples=300, segmentation="grid", n_freq=3, n_time=3, base=0.0, seed=4
    )
    a = method.attribute(model, x, 1)
    seg_values = a[:, 0, grid_edges(N_BINS, 3)[:-1]][:, :, grid_edges(N_FRAMES, 3)[:-1]]
    assert (seg_values.flatten(1).argmax(1) == 5).all()  # row 1, column 2
    others = torch.cat([seg_values.flatten(1)[:, :5], seg_values.flatten(1)[:, 6:]], 1)
    assert (others.abs().max(1).values < 0.1 * seg_values.flatten(1)[:, 5]).all()
    assert not torch.equal(
        a,
        get_method(
            "lime", n_samples=300, segmentation="grid", n_freq=3, n_time=3, base=0.0, seed=5
        ).attribute(model, x, 1),
    )


@pytest.mark.parametrize("explainer", ["deep", "gradient"])
def test_shap_recovers_the_rectangle(explainer):
    model = RectModel().eval()
    x = rect_input()
    background = torch.zeros(4, 1, N_BINS, N_FRAMES)
    a = get_method("shap", background=background, explainer=explainer).attribute(model, x, 1)
    inside = torch.zeros_like(a, dtype=torch.bool)
    inside[..., RECT[0], RECT[1]] = True
    assert torch.equal(a[~inside], torch.zeros_like(a[~inside]))
    assert (a[inside] > 0).all()
    # DeepLIFT through a linear-ReLU-linear chain: contributions sum to logit(x) - logit(bg)
    if explainer == "deep":
        gap = model(x)[:, 1] - model(background)[:, 1].mean()
        torch.testing.assert_close(a.sum(dim=(1, 2, 3)), gap.detach(), rtol=1e-4, atol=1e-5)

    assert not any(n.endswith((".x", ".y")) or n in ("x", "y") for n, _ in model.named_parameters())


def test_shap_deep_runs_on_a_cnn_and_leaves_it_clean(cnn, x):
    names = [n for n, _ in cnn.named_parameters()]
    a = get_method("shap", background=x[:2] * 0.5).attribute(cnn, x)
    assert a.shape == x.shape and torch.isfinite(a).all() and a.abs().sum() > 0
    assert [n for n, _ in cnn.named_parameters()] == names


def test_balanced_background_picks_per_class():
    feats = torch.arange(10.0).reshape(10, 1, 1, 1).expand(10, 1, 2, 3).contiguous()
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    bg = balanced_background(feats, labels, per_class=2, seed=0)
    picked = bg[:, 0, 0, 0].long()
    assert bg.shape == (6, 1, 2, 3)
    assert labels[picked].tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(bg, balanced_background(feats, labels, per_class=2, seed=0))


def test_segmentations_label_every_bin(x):
    for kind in ("quickshift", "slic", "felzenszwalb", "grid"):
        seg = segment(x, kind=kind)
        assert seg.shape == (3, N_BINS, N_FRAMES) and seg.dtype == torch.long
        for s in seg:
            assert s.unique().tolist() == list(range(int(s.max()) + 1))
    lime = get_method("lime", n_samples=32)  # default: quickshift segmentation
    assert lime.attribute(RectModel().eval(), rect_input()).shape == (2, 1, N_BINS, N_FRAMES)


def test_feature_mean_over_batches():
    batches = [torch.ones(2, 1, 3, 4), torch.zeros(1, 1, 3, 4)]
    assert feature_mean(batches) == pytest.approx(2 / 3)
    assert feature_mean(torch.full((1, 1, 2, 2), -5.0)) == -5.0


def test_bad_inputs_raise_parameter_errors(cnn, x):
    with pytest.raises(ParameterError, match="choose one of"):
        get_method("gradient_shap")
    with pytest.raises(ParameterError, match="bad options"):
        get_method("saliency", n_samples=3)
    with pytest.raises(ParameterError, match="shape"):
        get_method("saliency").attribute(cnn, x[:, 0])
    with pytest.raises(ParameterError, match="target"):
        get_method("saliency").attribute(cnn, x, torch.tensor([0, 1]))
    with pytest.raises(ParameterError, match="batch_size"):
        get_method("lime", batch_size=0)
    with pytest.raises(ParameterError, match="segmentation"):
        get_method("lime", segmentation="watershed")
    cnn.train()
    try:
        with pytest.raises(ParameterError, match="eval"):
            get_method("saliency").attribute(cnn, x)
    finally:
        cnn.eval()


@pytest.mark.parametrize("explainer", ["deep", "gradient"])
def test_shap_builds_its_explainer_once_and_values_do_not_depend_on_it(
    explainer, cnn, x, monkeypatch
):
    import shap

    cls_name = "DeepExplainer" if explainer == "deep" else "GradientExplainer"
    built = []
    original = getattr(shap, cls_name)

    def counting(*args, **kwargs):
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(shap, cls_name, counting)
    background = x[:2] * 0.5
    opts = {"background": background, "explainer": explainer, "n_samples": 4}
    reused = get_method("shap", **opts)
    first = [reused.attribute(cnn, x[i : i + 1], 1) for i in range(x.shape[0])]
    again = reused.attribute(cnn, x[-1:], 1)
    assert len(built) == 1  # one explainer for the model, class and background
    for i in range(x.shape[0]):  # a fresh explainer per clip gives the same bits
        assert torch.equal(first[i], get_method("shap", **opts).attribute(cnn, x[i : i + 1], 1))
    assert torch.equal(again, first[-1])
    other = copy.deepcopy(cnn)  # another model gets its own explainer
    with torch.no_grad():
        next(other.parameters()).mul_(2.0)
    assert not torch.equal(reused.attribute(other, x[:1], 1), first[0])
