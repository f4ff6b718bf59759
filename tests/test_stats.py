"""Bootstrap confidence intervals and paired tests."""

from __future__ import annotations

import numpy as np
import pytest

from audiointerp.errors import ParameterError
from audiointerp.experiments.reporting.stats import bootstrap_mean_ci, paired_test, paired_tests


def test_ci_contains_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 200, 2000):
        z = rng.normal(size=n)
        x = 3.0 + (z - z.mean()) / z.std()  # same spread at every n: only n changes the width
        ci = bootstrap_mean_ci(x, n_resamples=500, seed=0)
        assert ci.low < ci.mean < ci.high
        assert ci.mean == pytest.approx(x.mean())
        widths.append(float(ci.high - ci.low))
    assert widths[0] > 2 * widths[1] > 4 * widths[2]
    # normal theory: a 95 % interval of the mean is about 2 * 1.96 * sd / sqrt(n) wide
    assert widths == pytest.approx(2 * 1.96 / np.sqrt([20, 200, 2000]), rel=0.2)


def test_ci_is_seeded_and_columnwise_with_nans():
    x = np.random.default_rng(2).normal(size=(50, 3))
    x[:10, 1] = np.nan
    x[:, 2] = np.nan
    a = bootstrap_mean_ci(x, seed=5)
    b = bootstrap_mean_ci(x, seed=5)
    np.testing.assert_array_equal(a.low, b.low)
    assert list(a.n) == [50, 40, 0]
    assert a.mean[1] == pytest.approx(np.nanmean(x[:, 1]))
    assert np.isnan(a.mean[2]) and np.isnan(a.low[2])
    one = bootstrap_mean_ci(np.array([4.0]))
    assert one.low == one.mean == one.high == 4.0


def test_ci_matches_explicit_resampling():
    x = np.random.default_rng(3).exponential(size=30)
    ci = bootstrap_mean_ci(x, n_resamples=400, seed=7)
    idx = np.random.default_rng(7).integers(0, 30, size=(400, 30))
    lo, hi = np.percentile(x[idx].mean(axis=1), [2.5, 97.5])
    assert ci.low == pytest.approx(lo) and ci.high == pytest.approx(hi)


@pytest.mark.parametrize("method", ["wilcoxon", "permutation"])
def test_paired_test_detects_planted_difference_only(method):
    rng = np.random.default_rng(4)
    base = rng.normal(size=60)  # large between-clip spread: only pairing reveals the shift
    better = base + 0.3 + rng.normal(0, 0.1, 60)
    e = rng.normal(0, 0.1, 30)
    same = base + np.concatenate([e, -e])  # differences symmetric about 0: an exact null
    assert paired_test(better, base, method=method).p_value < 0.001
    assert paired_test(same, base, method=method).p_value > 0.05
    assert paired_test(base, better, method=method, alternative="less").p_value < 0.001
    p = paired_tests([better - base, same - base, np.zeros(5), np.array([1.0])], method=method)
    assert p[0] < 0.001 and p[1] > 0.05 and p[2] == 1.0 and np.isnan(p[3])
    assert p[0] == pytest.approx(paired_test(better, base, method=method).p_value)


def test_null_false_positive_rate_is_near_alpha():
    rng = np.random.default_rng(5)
    diffs = list(rng.normal(size=(200, 30)))
    p = paired_tests(diffs)
    assert 0.01 <= np.mean(p < 0.05) <= 0.10


def test_bad_arguments():
    with pytest.raises(ParameterError, match="same length"):
        paired_test(np.ones(3), np.ones(4))
    with pytest.raises(ParameterError, match="confidence"):
        bootstrap_mean_ci(np.ones(3), confidence=1.5)
    with pytest.raises(ParameterError, match="method"):
        paired_test(np.ones(3), np.ones(3), method="t")


def test_wilcoxon_matches_scipy_auto_on_every_path():
    """Exact (no ties), enumerated permutations (ties/zeros, n <= 13) and the tie-corrected
    normal approximation give SciPy's ``method="auto"`` p-values, in one vectorized call."""
    from scipy import stats as sps

    from audiointerp.experiments.reporting.stats import wilcoxon_greater

    rng = np.random.default_rng(6)
    cases = [
        rng.normal(0.3, 1, 20),  # exact
        rng.normal(0.3, 1, 70),  # asymptotic (n > 50)
        np.round(rng.normal(0.5, 1, 10)),  # ties and zeros, n <= 13: permutation
        np.round(rng.normal(0.5, 1, 12), 1),
        np.round(rng.normal(0.2, 1, 30)),  # ties, n > 13: asymptotic
        np.array([1.0, 1.0, 0.0, 2.0, -1.0]),
        np.array([0.0, 0.0, 3.0]),  # one non-zero difference
    ]
    for d in cases:
        got, how = wilcoxon_greater(d[None, :])
        want = sps.wilcoxon(d, alternative="greater", zero_method="wilcox").pvalue
        assert got[0] == pytest.approx(want, rel=1e-9), (d, how)
    block = np.stack([np.round(rng.normal(0.4, 1, 11)) for _ in range(30)])
    got, how = wilcoxon_greater(block)
    want = [sps.wilcoxon(r, alternative="greater").pvalue for r in block]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert set(how) <= {"exact", "permutation", "asymptotic"}
    assert wilcoxon_greater(np.zeros((1, 4)))[0][0] == 1.0


def test_holm_hand_computed():
    from audiointerp.experiments.reporting.stats import holm

    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, np.nan, 0.02])
    assert np.all(holm(np.array([0.5, 0.9])) == [1.0, 1.0])
    assert holm(np.array([np.nan])).shape == (1,)


def test_bootstrap_means_equals_explicit_resampling_per_column():
    """Groups are batched by size and, with NaNs, by the clips a column is finite on; every
    column's interval is still that of resampling its own finite values."""
    from audiointerp.experiments.reporting.stats import bootstrap_means

    rng = np.random.default_rng(8)
    groups = [rng.normal(size=(20, 3)) for _ in range(3)] + [rng.normal(size=(7, 3))]
    groups[1][0, 1] = np.nan  # one undefined value: 19 finite clips in that column
    groups[2][:, 2] = np.nan  # a column with no value (curves not computed there)
    groups[3][[0, 3], 0] = groups[3][[0, 3], 2] = np.nan  # two columns finite on the same clips
    many = bootstrap_means(groups, n_resamples=300, seed=3)
    for g, ci in zip(groups, many, strict=True):
        for j in range(3):
            col = g[np.isfinite(g[:, j]), j]
            assert ci.n[j] == col.size
            if col.size == 0:
                assert np.isnan(ci.mean[j]) and np.isnan(ci.low[j]) and np.isnan(ci.high[j])
                continue
            idx = np.random.default_rng(3).integers(0, col.size, size=(300, col.size))
            lo, hi = np.percentile(col[idx].mean(axis=1), [2.5, 97.5])
            assert ci.mean[j] == pytest.approx(col.mean(), rel=1e-12)
            assert ci.low[j] == pytest.approx(lo, rel=1e-12)
            assert ci.high[j] == pytest.approx(hi, rel=1e-12)


def test_paired_tests_take_columns_as_samples():
    """A 2-D sample holds one test per column (NaNs dropped per column); the p-values are those
    of the columns passed one by one."""
    rng = np.random.default_rng(4)
    d = rng.normal(0.3, 1.0, size=(40, 4))
    d[:5, 1] = np.nan
    d[:, 3] = 0.0  # every difference zero: p = 1
    cols = [d[np.isfinite(d[:, j]), j] for j in range(4)]
    for method in ("wilcoxon", "permutation"):
        together = paired_tests([d, cols[0]], method=method)
        alone = paired_tests(cols + [cols[0]], method=method)
        np.testing.assert_allclose(together, alone, rtol=1e-12)
        assert together[3] == 1.0 and together.shape == (5,)


def test_wilcoxon_picks_its_method_after_dropping_zeros():
    """SciPy's ``auto`` decides on the length before zeros are dropped, so 3 non-zero
    differences among 50 get the normal approximation (p = 0.054); enumerating the 8 sign
    flips of what is left gives the exact p = 1/8."""
    from audiointerp.experiments.reporting.stats import wilcoxon_greater

    d = np.zeros(50)
    d[:3] = [0.4, 1.1, 2.0]
    p, how = wilcoxon_greater(d[None, :])
    assert p[0] == pytest.approx(1 / 8) and how[0] == "permutation"
