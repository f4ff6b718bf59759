"""Reference methods (random, energy, oracle), aliases, ``abs`` options, effective resolutions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.experiments.core import clip_seed
from audiointerp.experiments.core.explain import attribute_clips
from audiointerp.interpretation import (
    MethodContext,
    build_method,
    get_method,
    method_class,
    resolve_method,
)
from audiointerp.models import build_model


class Linear(nn.Module):
    """logit_c = sum(W_c * x): the input gradient is W_c, everywhere."""

    gradcam_layer = None

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(weight[0].numel(), weight.shape[0], bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(weight.reshape(weight.shape[0], -1))

    def forward(self, x):
        return self.fc(self.flatten(x))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return build_model("cnn6", num_classes=3, num_bins=32, width=0.125, input_pool=2).eval()


def feats(n=2, f=32, t=20, seed=1):
    return torch.randn(n, 1, f, t, generator=torch.Generator().manual_seed(seed)) * 20 - 50


def test_reference_kinds_are_declared_on_the_classes():
    kinds = {n: method_class(n).reference for n in ("random", "energy", "oracle", "saliency")}
    assert kinds == {"random": "chance", "energy": "input", "oracle": "ideal", "saliency": None}
    assert method_class("random").stochastic and not method_class("energy").stochastic
    assert method_class("oracle").needs_ground_truth and method_class("oracle").gives_native_mask
    assert not any(method_class(n).in_default_set for n in ("random", "energy", "oracle"))


def test_energy_is_the_level_above_the_floor(cnn):
    x = feats()
    x[0, 0, 0, 0] = -120.0  # below the floor: no energy, not negative energy
    ctx = MethodContext(cnn, frontend=None)
    energy = build_method("energy", {}, ctx)
    assert energy.base == -100.0
    a = energy.attribute(cnn, x)
    torch.testing.assert_close(a, (x + 100.0).clamp_min(0))
    assert float(a[0, 0, 0, 0]) == 0.0
    assert torch.equal(get_method("energy", base=-60.0).attribute(cnn, x), (x + 60).clamp_min(0))


def test_random_is_seeded_per_clip_and_independent_of_model_and_input(cnn):
    x = feats(3)
    method = get_method("random")
    ids = ["a", "b", "c"]
    target = torch.zeros(3, dtype=torch.long)
    maps = attribute_clips("random", method, cnn, x, target, ids, seed=7).attributions
    again = attribute_clips("random", method, cnn, 2 * x, target, ids, seed=7).attributions
    assert torch.equal(maps, again)  # the map never looks at the input
    # clip "b" alone, or in another batch, gets the same map; other clips/seeds differ
    alone = attribute_clips("random", method, cnn, x[1:2], target[:1], ["b"], seed=7)
    assert torch.equal(alone.attributions, maps[1:2])
    assert not torch.equal(maps[0], maps[1])
    other = attribute_clips("random", method, cnn, x, target, ids, seed=8).attributions
    assert not torch.equal(other, maps)
    # it is N(0, 1) from the per-clip seed, drawn on the CPU
    method.reseed(clip_seed(7, "random", "b"))
    gen = torch.Generator().manual_seed(method.seed)
    torch.testing.assert_close(maps[1], torch.randn(x[1].shape, generator=gen))
    assert abs(float(maps.mean())) < 0.1 and abs(float(maps.std()) - 1.0) < 0.1


def test_oracle_returns_the_ideal_mask_as_map_and_native_mask(cnn):
    x = feats()
    ideal = (torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) > 0.7).float()
    ex = get_method("oracle").explain(cnn, x, ground_truth=ideal)
    assert torch.equal(ex.attributions, ideal) and torch.equal(ex.native_mask, ideal)
    with pytest.raises(ParameterError, match="ground_truth"):
        get_method("oracle").explain(cnn, x)
    with pytest.raises(ParameterError, match="shape"):
        get_method("oracle").explain(cnn, x, ground_truth=ideal[:, :, :4])
    # the core refuses it on clips without stems, naming why
    with pytest.raises(ParameterError, match="stems"):
        attribute_clips("oracle", get_method("oracle"), cnn, x, torch.zeros(2).long(), ["a", "b"],
                        seed=0)  # fmt: skip


def test_aliases_run_a_registered_method_under_their_own_name(cnn):
    cls, opts = resolve_method("saliency_abs", {"method": "saliency", "abs": True})
    assert cls is method_class("saliency") and opts == {"abs": True}
    assert resolve_method("gradcam", None) == (method_class("gradcam"), {})
    built = build_method("saliency_abs", {"method": "saliency", "abs": True}, MethodContext(cnn))
    assert type(built).__name__ == "Saliency" and built.abs
    with pytest.raises(ParameterError, match="registered method"):
        resolve_method("saliency", {"method": "gradcam"})
    with pytest.raises(ParameterError, match="methods.mine.method.*not valid"):
        resolve_method("mine", {"method": "nope"})
    with pytest.raises(ParameterError, match="must name"):
        resolve_method("mine", {"method": 3})
    with pytest.raises(ParameterError, match="not valid"):
        resolve_method("mine", {"abs": True})  # not an alias and not registered


@pytest.mark.parametrize(
    ("name", "opts"),
    [("saliency", {}), ("ig", {"n_steps": 8, "base": 0.0}), ("shap", {"explainer": "gradient"})],
)
def test_abs_option_is_the_magnitude_of_the_signed_map(name, opts):
    weight = torch.randn(2, 1, 4, 5, generator=torch.Generator().manual_seed(0))
    model = Linear(weight).eval()
    x = torch.randn(2, 1, 4, 5, generator=torch.Generator().manual_seed(1))
    signed = get_method(name, **opts).attribute(model, x, 1)
    magnitude = get_method(name, **opts, abs=True).attribute(model, x, 1)
    assert (signed < 0).any()
    torch.testing.assert_close(magnitude, signed.abs())
    if name == "saliency":  # a linear model's gradient is its weight, by hand
        torch.testing.assert_close(signed, weight[1:2].expand_as(x))


def test_effective_resolution_of_each_method(cnn):
    f, t = 32, 20
    # input_pool 2: gradients are constant over each pair of bins
    assert get_method("saliency").resolution(cnn, f, t) == (16, 20)
    assert get_method("ig").resolution(cnn, f, t) == (16, 20)
    assert get_method("shap").resolution(cnn, f, t) == (16, 20)
    # Grad-CAM: the last block's grid (16 rows after the input pool, then three 2 x 2 pools)
    assert get_method("gradcam").resolution(cnn, f, t) == (2, 2)
    assert get_method("lime", segmentation="grid", n_freq=4, n_time=8).resolution(cnn, f, t) == (
        4,
        8,
    )
    assert get_method("lime").resolution(cnn, f, t) is None  # quickshift: adaptive
    assert get_method("slice", n_freq=3, n_time=5).resolution(cnn, f, t) == (3, 5)
    for ref in ("random", "energy", "oracle"):
        assert get_method(ref).resolution(cnn, f, t) == (f, t)
    # a plain module without an input grid: full resolution
    plain = Linear(torch.zeros(2, 1, 4, 5))
    assert get_method("saliency").resolution(plain, 4, 5) == (4, 5)


def test_saliency_is_blockwise_constant_over_the_input_pool(cnn):
    """What the resolution says: with input_pool 2 the gradient takes one value per pooled
    pair of bins, up to bn0's per-bin scale (so the ratio within a pair is constant)."""
    x = feats(1)
    g = get_method("saliency").attribute(cnn, x)[0, 0]  # (32, 20)
    scale = cnn.bn0.weight / torch.sqrt(cnn.bn0.running_var + cnn.bn0.eps)
    pooled = (g / scale[:, None]).reshape(16, 2, 20)
    torch.testing.assert_close(pooled[:, 0], pooled[:, 1], rtol=1e-4, atol=1e-6)


def test_aliases_work_wherever_a_config_reads_its_methods(tmp_path):
    from audiointerp.experiments.grid.config import content_digests, load_experiment
    from audiointerp.experiments.interactive.explorer_session import takes_option

    alias = {"method": "saliency", "abs": True}
    cfg = load_experiment(None, {"methods": {"saliency_abs": alias, "lime": {}}})
    resolved = cfg.resolve_paths(lambda p: tmp_path / p)
    assert resolved.methods["saliency_abs"] == alias
    assert content_digests(cfg)["methods"] == {}
    assert takes_option("saliency_abs", "abs", alias) and not takes_option(
        "saliency_abs", "fill", alias
    )
    assert takes_option("slice", "fill") and not takes_option("lime", "fill")
