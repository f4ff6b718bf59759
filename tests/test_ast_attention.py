"""Attention-based methods (AMT, rollout, gradient-weighted attention) and the token mapping."""

from __future__ import annotations

import pytest
import torch

from audiointerp.errors import ParameterError
from audiointerp.interpretation import MethodContext, build_method, get_method
from audiointerp.models import build_model
from audiointerp.models.base import AudioClassifier
from audiointerp.models.tokens import TokenLayout


def tiny_ast(**kw):
    torch.manual_seed(0)
    opts = dict(patch=(4, 8), dim=16, depth=2, heads=2, max_frames=40, dropout=0.0)
    opts.update(kw)
    return build_model("ast", num_classes=3, num_bins=16, **opts).eval()


def features(b=1, t=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return -60.0 + 20.0 * torch.randn(b, 1, 16, t, generator=g)


def attend_only_to(model, token: int):
    """Hook every softmax so that every token attends only to ``token`` (kept in the graph)."""

    def hook(_module, _inputs, out):
        one_hot = torch.zeros_like(out)
        one_hot[..., token] = 1.0
        return out * 0.0 + one_hot

    return [b.attn.softmax.register_forward_hook(hook) for b in model.blocks]


@pytest.mark.parametrize("patch_index", [0, 6, 13])
def test_one_patch_model_maps_to_that_patch(patch_index):
    """A model that only attends to one patch: its input gradient, AMT, rollout and
    gradient-weighted attention all light up exactly that patch's (frequency, time) box."""
    model = tiny_ast()
    x = features()
    layout = model.token_layout(16, 32)  # 4 x 4 patches of 4 bins x 8 frames
    (f0, f1), (t0, t1) = layout.box(patch_index)
    i, j = divmod(patch_index, 4)
    assert ((f0, f1), (t0, t1)) == ((4 * i, 4 * i + 4), (8 * j, 8 * j + 8))
    inside = torch.zeros(16, 32, dtype=torch.bool)
    inside[f0:f1, t0:t1] = True
    model.fused_attention = False  # the hooks sit on the explicit softmax
    handles = attend_only_to(model, layout.n_special + patch_index)
    try:
        xg = x.clone().requires_grad_()
        model(xg)[0, 1].backward()
        grad = xg.grad[0, 0]
        assert grad[~inside].abs().max() == 0 and grad[inside].abs().sum() > 0
        for name in ("amt", "rollout", "grad_attention"):
            a = get_method(name, upsample="nearest").attribute(model, x, 1)[0, 0]
            assert a[~inside].abs().max() == 0, name
            assert a[inside].min() > 0, name
    finally:
        for h in handles:
            h.remove()


class ToyAttention(AudioClassifier):
    """Two layers, two heads, 1 CLS + 2 patches on a 2 x 4 input; fixed attention per clip.

    Clip ``b`` picks its attention by ``round(features[b, 0, 0, 0])`` (0 or 1).
    """

    kind = "transformer"

    def __init__(self, layers: list[torch.Tensor]):
        super().__init__()
        self.layers = layers  # each (2 choices, heads, 3, 3)
        self.num_classes, self.num_bins = 2, 2
        self.w = torch.nn.Parameter(torch.ones(2))

    def token_layout(self, n_bins, n_frames):
        return TokenLayout(1, (1, 2), (2, 2), (2, 2), n_bins, n_frames)

    def attend(self, features):
        which = features[:, 0, 0, 0].round().long()
        attns = [layer[which].clone().requires_grad_() for layer in self.layers]
        logits = torch.stack([attns[-1][:, :, 0, 1].sum(1), attns[-1][:, :, 0, 2].sum(1)], 1)
        return logits * self.w, attns

    def attentions(self, features):
        return self.attend(features)[1]

    def forward(self, features):
        return self.attend(features)[0]


def toy():
    eye = torch.eye(3)
    to1 = torch.tensor([[0.0, 1, 0], [0, 1, 0], [0, 0, 1]])
    to2 = torch.tensor([[0.0, 0, 1], [0, 1, 0], [0, 0, 1]])
    # clip choice 0: layer 1 heads (I, to1) -> mean [[.5,.5,0],[0,1,0],[0,0,1]];
    #                layer 2 heads (to1, to2) -> mean [[0,.5,.5],[0,1,0],[0,0,1]]
    # clip choice 1: the two layers swapped
    layer1 = torch.stack([torch.stack([eye, to1]), torch.stack([to1, to2])])
    layer2 = torch.stack([torch.stack([to1, to2]), torch.stack([eye, to1])])
    return ToyAttention([layer1, layer2]).eval()


def toy_input(choices):
    x = torch.zeros(len(choices), 1, 2, 4)
    x[:, 0, 0, 0] = torch.tensor(choices, dtype=torch.float32)
    return x


def test_rollout_equals_hand_computation_and_is_correct_for_batches():
    # choice 0, by hand: (A1 + I)/2 = [[.75,.25,0],[0,1,0],[0,0,1]],
    # (A2 + I)/2 = [[.5,.25,.25],[0,1,0],[0,0,1]]; row 0 of their product (layer 2 after 1):
    # .5 * [.75,.25,0] + .25 * [0,1,0] + .25 * [0,0,1] = [.375, .375, .25] -> patches (.375, .25)
    # choice 1: (A1 + I)/2 = [[.5,.25,.25],...], (A2 + I)/2 = [[.75,.25,0],...]; row 0:
    # .75 * [.5,.25,.25] + .25 * [0,1,0] = [.375, .4375, .1875] -> patches (.4375, .1875)
    model = toy()
    rollout = get_method("rollout", upsample="nearest")
    both = rollout.attribute(model, toy_input([0, 1]), 0)
    expect = torch.tensor([[0.375, 0.25], [0.4375, 0.1875]])
    for b in range(2):
        torch.testing.assert_close(both[b, 0, 0, ::2], expect[b])
        torch.testing.assert_close(both[b, 0], both[b, 0, 0].expand(2, 4))
    one = rollout.attribute(model, toy_input([1]), 0)
    torch.testing.assert_close(both[1:], one)
    # in one batch the other way round: still each clip's own rollout
    swapped = rollout.attribute(model, toy_input([1, 0]), 0)
    torch.testing.assert_close(swapped, both.flip(0))


def test_rollout_discard_ratio_is_per_clip():
    model = toy()
    method = get_method("rollout", upsample="nearest", discard_ratio=0.5)
    both = method.attribute(model, toy_input([0, 1]), 0)
    for b, choice in enumerate([0, 1]):
        torch.testing.assert_close(both[b : b + 1], method.attribute(model, toy_input([choice]), 0))


def test_grad_attention_equals_hand_computation():
    # logit 0 = sum over heads of the last layer's A[0, 1]: its gradient is 1 at that entry,
    # so layer 2's cam = mean_h max(0, A_h[0, 1]) at (0, 1) only; layer 1 gets no gradient.
    # choice 0, layer 2 heads (to1, to2): A[0, 1] = (1, 0) -> cam[0, 1] = 0.5;
    # R = I + cam @ I -> row 0 = [1, 0.5, 0] -> patches (0.5, 0)
    model = toy()
    out = get_method("grad_attention", upsample="nearest").attribute(model, toy_input([0]), 0)
    torch.testing.assert_close(out[0, 0, 0, ::2], torch.tensor([0.5, 0.0]))


def test_amt_keeps_the_top_ten_percent():
    model = tiny_ast()
    x = features(2, t=37, seed=3)
    ex = get_method("amt").explain(model, x)
    assert ex.native_mask is not None and ex.native_mask.shape == x.shape
    n = 16 * 37
    for b in range(2):
        a, m = ex.attributions[b, 0].flatten(), ex.native_mask[b, 0].flatten()
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        kept = a[m == 1]
        assert kept.min() >= a[m == 0].max()
        # at least the top 10 %; anything beyond ties the threshold (bilinear maps repeat values)
        assert int((a > kept.min()).sum()) < 0.10 * n <= int(m.sum())
        assert int(m.sum()) <= 0.10 * n + int((a == kept.min()).sum())
    # the map is the last layer's CLS row over the patches, head mean, on the patch grid
    near = get_method("amt", upsample="nearest").attribute(model, x)
    last = model.attentions(x)[-1].mean(1)[:, 0, 2:].reshape(2, 4, 5)
    layout = model.token_layout(16, 37)
    for k in range(layout.n_patches):
        (f0, f1), (t0, t1) = layout.box(k)
        i, j = divmod(k, 5)
        torch.testing.assert_close(near[:, 0, f0:f1, t0:t1].amax((1, 2)), last[:, i, j])


def test_amt_quantile_option():
    model = tiny_ast()
    ex = get_method("amt", quantile=0.5).explain(model, features(1, t=37))
    assert abs(float(ex.native_mask.mean()) - 0.5) < 0.01
    with pytest.raises(ParameterError, match="quantile"):
        get_method("amt", quantile=1.0)


@pytest.mark.parametrize("name", ["amt", "rollout", "grad_attention"])
def test_attention_methods_refuse_cnns(name):
    torch.manual_seed(0)
    cnn = build_model("cnn6", num_classes=3, num_bins=16, width=0.125).eval()
    with pytest.raises(ParameterError, match="transformer"):
        get_method(name).attribute(cnn, features(1))
    with pytest.raises(ParameterError, match="transformer"):
        build_method(name, {}, MethodContext(cnn))


def test_query_pooled_reads_the_special_tokens_mean():
    model = tiny_ast()
    x = features(1)
    pooled = get_method("amt", query="pooled", upsample="nearest").attribute(model, x)
    last = model.attentions(x)[-1].mean(1)[:, :2, 2:].mean(1).reshape(1, 4, 4)
    torch.testing.assert_close(pooled[0, 0, ::4, ::8], last[0])


def test_rollout_head_fusion_options_differ():
    model = tiny_ast()
    x = features(1)
    maps = {f: get_method("rollout", head_fusion=f).attribute(model, x) for f in ("mean", "max")}
    assert not torch.allclose(maps["mean"], maps["max"])
    with pytest.raises(ParameterError, match="head_fusion"):
        get_method("rollout", head_fusion="median")
