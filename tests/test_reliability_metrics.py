"""Regression corpus, metric and mask inputs: NaN/Inf, wrong shapes, targets out of range and
non-probabilities are the package's error, not a NaN in a table; extreme maps give finite
masks; ordinary maps keep their exact values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiointerp import metrics
from audiointerp.errors import ParameterError
from audiointerp.interpretation.masks import MASK_NAMES, apply_mask, make_masks, minmax, quantile

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])


def _with(value, at=(0, 0), base=P):
    out = np.array(base, dtype=np.float64)
    out[at] = value
    return out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("arg", ["p", "p_in", "p_out"])
def test_fidelity_refuses_non_finite_probabilities(bad, arg):
    args = {"p": P, "p_in": P, "p_out": P, arg: _with(bad)}
    with pytest.raises(ParameterError, match=rf"{arg} holds 1 NaN or Inf value"):
        metrics.fidelity(**args)


def test_fidelity_refuses_logits_shapes_and_targets_out_of_range():
    with pytest.raises(ParameterError, match="p_in must hold probabilities in \\[0, 1\\]"):
        metrics.fidelity(P, P * 5, P)
    with pytest.raises(ParameterError, match="shapes differ"):
        metrics.fidelity(P, P[:1], P)
    with pytest.raises(ParameterError, match="p must have 2 dimensions"):
        metrics.fidelity(P[0], P[0], P[0])
    for target in ([0, 3], [-1, 0], [0.5, 1]):
        with pytest.raises(ParameterError, match=r"target must hold class indices in \[0, 3\)"):
            metrics.fidelity(P, P, P, target=target)
    with pytest.raises(ParameterError, match=r"target must have shape \(2,\)"):
        metrics.fidelity(P, P, P, target=[0])
    with pytest.raises(ParameterError, match="must be numeric"):
        metrics.fidelity(P, P, P, target=["dog", "cat"])
    out = metrics.fidelity(P, P, P, target=[1, 2])
    assert np.all(out["FF"] == 0.0)


@pytest.mark.parametrize(
    "fn",
    [metrics.sparseness, metrics.complexity],
)
def test_mask_metrics_refuse_non_finite(fn):
    m = np.random.default_rng(0).random((2, 1, 4, 5))
    m[1, 0, 2, 3] = np.nan
    with pytest.raises(ParameterError, match="mask holds 1 NaN or Inf"):
        fn(m)


def test_ground_truth_metrics_and_si_sdr_refuse_bad_input():
    a = np.random.default_rng(0).standard_normal((2, 1, 4, 5))
    gt = (a > 0).astype(float)
    with pytest.raises(ParameterError, match="attributions holds 1 NaN"):
        metrics.localization_auc(_with(np.nan, (0, 0, 0, 0), a), gt)
    with pytest.raises(ParameterError, match="gt holds"):
        metrics.relevance_mass(a, _with(np.inf, (1, 0, 1, 1), gt))
    with pytest.raises(ParameterError, match="ground-truth mask shape"):
        metrics.relevance_mass(a, gt[:, :, :3])
    est = np.random.default_rng(1).standard_normal((2, 100))
    with pytest.raises(ParameterError, match="ref holds"):
        metrics.si_sdr(est, _with(np.nan, (0, 5), est))
    with pytest.raises(ParameterError, match="differs from ref shape"):
        metrics.si_sdr(est, est[:, :50])


def test_masks_refuse_non_finite_maps():
    a = torch.randn(2, 1, 4, 6)
    a[0, 0, 1, 1] = float("nan")
    with pytest.raises(ParameterError, match="attributions contains NaN or Inf"):
        make_masks(a)
    with pytest.raises(ParameterError, match="attributions must have 4 dimensions"):
        make_masks(torch.randn(4, 6))


def test_extreme_maps_give_finite_masks_in_range():
    big = torch.finfo(torch.float32).max
    a = torch.tensor([-big, -3e38, 0.0, 1.0, 3e38, big]).reshape(1, 1, 2, 3)
    masks = make_masks(a)
    for name in MASK_NAMES:
        m = masks[name]
        assert torch.isfinite(m).all(), name
        assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0, name
    want = [(v + big) / (2 * big) for v in a.flatten().double().tolist()]  # exact (A-min)/span
    np.testing.assert_allclose(masks["minmax"].flatten().tolist(), want, rtol=1e-6, atol=1e-7)
    q = quantile(a, 0.5)
    assert torch.isfinite(q).all()


def test_ordinary_maps_keep_their_bits():
    a = torch.randn(3, 1, 16, 20, generator=torch.Generator().manual_seed(0)) * 1e-3
    flat = a.reshape(3, -1)
    lo = flat.min(1).values.reshape(-1, 1, 1, 1)
    hi = flat.max(1).values.reshape(-1, 1, 1, 1)
    reference = (a - lo) / (hi - lo).clamp_min(torch.finfo(torch.float32).tiny)
    assert torch.equal(minmax(a), reference)
    for q in (0.05, 0.3, 0.5, 0.95):
        want = torch.from_numpy(np.quantile(flat.numpy().astype(np.float64), q, axis=1))
        torch.testing.assert_close(quantile(a, q).double(), want, rtol=1e-6, atol=0)


def test_apply_mask_checks_values_in_one_pass():
    x = torch.randn(1, 1, 4, 4)
    m = torch.rand(1, 1, 4, 4)
    torch.testing.assert_close(apply_mask(x, m, -100.0), (x + 100.0) * m - 100.0)
    for bad in (1.5, -0.1, float("nan")):
        m_bad = m.clone()
        m_bad[0, 0, 0, 0] = bad
        with pytest.raises(ParameterError, match=r"mask values must lie in \[0, 1\]"):
            apply_mask(x, m_bad, -100.0)
    with pytest.raises(ParameterError, match="base must be a finite dB value"):
        apply_mask(x, m, float("nan"))
    with pytest.raises(ParameterError, match="differs from features shape"):
        apply_mask(x, m[..., :3], -100.0)
