"""Metrics on hand-computed cases, and equivalence with Quantus and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from audiointerp import metrics
from audiointerp.errors import ParameterError


def test_fidelity_hand_computed():
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])
    p_in = np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.0, 1.0, 0.0]])
    p_out = np.array([[0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.5, 0.5, 0.0]])
    out = metrics.fidelity(p, p_in, p_out)
    np.testing.assert_allclose(out["FF"], [0.5, -0.1, 0.5])
    np.testing.assert_allclose(out["AI"], [100.0, 0.0, 0.0])
    np.testing.assert_allclose(out["AD"], [0.0, 100 * 0.3 / 0.5, 0.0])
    np.testing.assert_allclose(out["AG"], [100 * 0.2 / 0.4, 0.0, 0.0])  # p[c] = 1: AG = 0
    np.testing.assert_allclose(out["FidIn"], [1.0, 0.0, 1.0])
    # explicit target, torch input
    t = metrics.fidelity(torch.tensor(p), torch.tensor(p_in), torch.tensor(p_out), target=[1, 1, 1])
    np.testing.assert_allclose(t["FF"], [0.3 - 0.8, 0.5 - 0.6, 0.5])
    np.testing.assert_allclose(t["AD"], [100 * 0.2 / 0.3, 100 * 0.3 / 0.5, 0.0])
    assert all(v.shape == (3,) for v in out.values())
    with pytest.raises(ParameterError, match="shapes differ"):
        metrics.fidelity(p, p_in[:2], p_out)


def test_sparseness_and_complexity_hand_computed():
    one_hot = np.zeros((1, 1, 2, 5))
    one_hot[0, 0, 1, 3] = -2.0  # abs: sign does not matter
    assert metrics.sparseness(one_hot)[0] == pytest.approx(0.9, abs=1e-5)  # (n - 1) / n
    assert metrics.complexity(one_hot)[0] == pytest.approx(0.0, abs=1e-9)
    half = np.zeros((1, 10))
    half[0, :5] = 1.0
    assert metrics.complexity(half)[0] == pytest.approx(np.log(5))
    assert metrics.sparseness(half)[0] == pytest.approx(0.5, abs=1e-5)
    # An empty mask is undefined (the recipe skips it); a constant one is Quantus's 0 / ln N.
    constant = np.stack([np.zeros((1, 2, 5)), np.full((1, 2, 5), 0.7)])
    sps, comp = metrics.sparseness(constant), metrics.complexity(constant)
    assert np.isnan(sps[0]) and np.isnan(comp[0])
    assert sps[1] == 0.0 and comp[1] == pytest.approx(np.log(10))


def test_degenerate_flags_constant_and_near_constant_masks():
    rng = np.random.default_rng(0)
    masks = np.stack(
        [
            np.ones((1, 8, 50)),  # all ones: p_in = p
            np.zeros((1, 8, 50)),  # empty
            0.5 + rng.uniform(-0.003, 0.003, (1, 8, 50)),  # sigmoid of a tiny map
            (rng.random((1, 8, 50)) > 0.5).astype(float),  # a real binary mask
        ]
    )
    np.testing.assert_array_equal(metrics.degenerate(masks), [True, True, True, False])
    assert metrics.mask_spread(masks)[0] == 0.0
    assert metrics.mask_spread(masks)[3] == pytest.approx(0.5, abs=0.02)


def test_sparseness_and_complexity_equal_quantus():
    quantus = pytest.importorskip("quantus")  # dev-only dependency
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 8, 12)).astype(np.float32)
    y = np.zeros(4, dtype=np.int64)
    maps = [
        rng.standard_normal((4, 1, 8, 12)),
        rng.random((4, 1, 8, 12)) ** 4,
        np.where(rng.random((4, 1, 8, 12)) > 0.8, rng.random((4, 1, 8, 12)), 0.0),
    ]
    for a in maps:
        a = a.astype(np.float32)
        kw = {"abs": True, "normalise": True, "disable_warnings": True}
        want_sps = quantus.Sparseness(**kw)(
            model=None, x_batch=x, y_batch=y, a_batch=a.copy(), channel_first=True
        )
        want_comp = quantus.Complexity(**kw)(
            model=None, x_batch=x, y_batch=y, a_batch=a.copy(), channel_first=True
        )
        np.testing.assert_allclose(metrics.sparseness(a), want_sps, atol=1e-6)
        np.testing.assert_allclose(metrics.complexity(a), want_comp, atol=1e-6)


def test_localization_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(1)
    a = np.round(rng.standard_normal((3, 1, 6, 7)), 1)  # many ties in |A|
    gt = (rng.random((3, 1, 6, 7)) > 0.6).astype(np.float32)
    got = metrics.localization_auc(a, gt)
    want = [roc_auc_score(g.ravel(), np.abs(s).ravel()) for s, g in zip(a, gt, strict=True)]
    np.testing.assert_allclose(got, want)
    perfect = gt * 5 - 0.0
    np.testing.assert_allclose(metrics.localization_auc(perfect, gt), 1.0)
    one_class = np.stack([np.ones((1, 6, 7)), np.zeros((1, 6, 7))])
    np.testing.assert_array_equal(metrics.localization_auc(a[:2], one_class), [0.5, 0.5])
    with pytest.raises(ParameterError, match="ground-truth"):
        metrics.localization_auc(a, gt[..., :3])


def test_relevance_mass():
    a = np.array([[[[3.0, -5.0], [1.0, 0.0]]], [[[-1.0, -2.0], [-3.0, 0.0]]]])
    gt = np.array([[[[1, 1], [0, 0]]], [[[1, 0], [0, 0]]]])
    # positive mass 3 of 4 inside; no positive value at all: undefined, not 0
    out = metrics.relevance_mass(a, gt)
    assert out[0] == pytest.approx(0.75) and np.isnan(out[1])


def test_si_sdr_and_improvement():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((2, 1000))
    noise = rng.standard_normal((2, 1000))
    noise -= (
        (noise * ref).sum(1, keepdims=True) / (ref**2).sum(1, keepdims=True) * ref
    )  # orthogonal
    noise *= np.linalg.norm(ref, axis=1, keepdims=True) / np.linalg.norm(
        noise, axis=1, keepdims=True
    )
    est = 3.0 * ref + 0.3 * noise  # SI-SDR = 10 log10(9 / 0.09) = 20 dB, scale-invariant
    np.testing.assert_allclose(metrics.si_sdr(est, ref), [20.0, 20.0], atol=1e-9)
    mix = ref + noise  # 0 dB
    np.testing.assert_allclose(metrics.si_sdri(est, mix, ref), [20.0, 20.0], atol=1e-9)
    assert np.isfinite(metrics.si_sdr(np.zeros((1, 10)), np.ones((1, 10)))).all()
    out = metrics.si_sdr(torch.tensor(est, dtype=torch.float32), torch.tensor(ref))
    np.testing.assert_allclose(out, 20.0, atol=1e-3)


def _rank_auc(score: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The rank formula for every row (the general path), for the binary fast path to match."""
    from scipy.stats import rankdata

    n_pos = truth.sum(1)
    u = (rankdata(score, axis=1) * truth).sum(1) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * (truth.shape[1] - n_pos))


def test_localization_auc_of_binary_masks_counts_equal_the_rank_formula_bit_for_bit():
    rng = np.random.default_rng(4)
    gt = (rng.random((40, 1, 8, 9)) > rng.random((40, 1, 1, 1))).astype(np.float32)
    gt[:, :, 0, 0], gt[:, :, 0, 1] = 1, 0  # both classes present in every row
    binary = (rng.random(gt.shape) > rng.random((40, 1, 1, 1))).astype(np.float32)
    mixed = binary.copy()
    mixed[::3] = rng.random(mixed[::3].shape)  # a batch with both paths
    for masks in (binary, mixed):
        got = metrics.localization_auc(masks, gt)
        want = _rank_auc(masks.reshape(40, -1).astype(np.float64), gt.reshape(40, -1) > 0.5)
        np.testing.assert_array_equal(got, want)
        sk = [roc_auc_score(g.ravel(), m.ravel()) for m, g in zip(masks, gt, strict=True)]
        np.testing.assert_allclose(got, sk, rtol=1e-12)


def test_localization_auc_of_masks_sorted_by_their_map_equals_the_rank_formula_bit_for_bit():
    """With the map's own order, soft masks that are monotone in the map (min-max, sigmoid,
    with ties and saturation) count U over runs, with the rank formula's bits; masks the order
    does not sort (a learned mask, a NaN) take the rank formula."""
    import torch

    from audiointerp.interpretation.masks import make_masks

    rng = np.random.default_rng(6)
    a = rng.standard_normal((6, 1, 16, 20)).astype(np.float32) * 8  # sigmoid saturates at 1
    a[:, :, :4] = np.round(a[:, :, :4])  # ties in the map
    gt = (rng.random(a.shape) > 0.6).astype(np.float32)
    gt[:, :, 0, 0], gt[:, :, 0, 1] = 1, 0
    masks = make_masks(torch.from_numpy(a), ["minmax", "sigmoid", "minmax_pos", "sigmoid_pos"])
    stacked = np.concatenate([m.numpy() for m in masks.values()])  # mask-major, as scoring
    stacked[1] = rng.random(stacked[1].shape)  # not sorted by its map: the rank formula
    order = np.argsort(a.reshape(6, -1), axis=1, kind="stable")[np.tile(np.arange(6), 4)]
    truth = np.tile(gt, (4, 1, 1, 1))
    got = metrics.localization_auc(stacked, truth, order=order)
    want = _rank_auc(stacked.reshape(24, -1).astype(np.float64), truth.reshape(24, -1) > 0.5)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, metrics.localization_auc(stacked, truth))
    flat, hits = stacked.reshape(24, -1).astype(np.float64), truth.reshape(24, -1) > 0.5
    assert metrics._sorted_u(flat[1], hits[1], order[1]) is None
    for row in (0, 2, 12, 17):  # min-max and its positive part: counted over runs
        assert metrics._sorted_u(flat[row], hits[row], order[row]) is not None


def test_si_sdr_of_stacked_estimates_and_its_rounding():
    rng = np.random.default_rng(5)
    ref = rng.standard_normal((3, 4000)).astype(np.float32)
    noise = 10.0 ** rng.uniform(-4, 0, (4, 3, 1))  # SI-SDR from about 0 to 80 dB
    est = ref[None] * rng.uniform(0.5, 2, (4, 3, 1)) + noise * rng.standard_normal((4, 3, 4000))
    est = est.astype(np.float32)
    stacked = metrics.si_sdr(est, ref)
    assert stacked.shape == (4, 3)
    for k in range(4):  # the same bits as K separate calls, and a row alone as in its batch
        np.testing.assert_array_equal(stacked[k], metrics.si_sdr(est[k], ref))
        np.testing.assert_array_equal(stacked[k, 1:2], metrics.si_sdr(est[k, 1:2], ref[1:2]))
    # against the projection formula in float64: the expanded residual is exact to 1e-6 dB
    e, r = est.astype(np.float64), ref.astype(np.float64)
    proj = (e * r).sum(-1, keepdims=True) / (r * r).sum(-1, keepdims=True) * r
    want = 10 * np.log10((proj**2).sum(-1) / ((e - proj) ** 2).sum(-1))
    assert stacked.max() > 60  # the high-SDR end, where the cancellation would show
    np.testing.assert_allclose(stacked, want, atol=1e-6)
    with pytest.raises(ParameterError, match="differs from ref shape"):
        metrics.si_sdr(est[:, :2], ref)
