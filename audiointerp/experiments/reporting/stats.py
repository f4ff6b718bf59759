"""Uncertainty for the results tables: bootstrap confidence intervals and paired tests.

Pure NumPy/SciPy functions on per-clip metric values. The bootstrap is vectorized (one index
matrix of shape ``(n_resamples, n)`` per call) and seeded, so a table is bit-for-bit
reproducible; the paired tests compare two methods on the *same* clips.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice

__all__ = ["BootstrapCI", "PairedTest", "bootstrap_mean_ci", "paired_test", "paired_tests"]

Alternative = Literal["greater", "less", "two-sided"]
PairedMethod = Literal["wilcoxon", "permutation"]


@dataclass(frozen=True)
class BootstrapCI:
    """Mean of a sample with a percentile bootstrap confidence interval.

    Arrays have shape ``(M,)`` when the input had ``M`` columns, else they are 0-d.
    """

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    confidence: float


@dataclass(frozen=True)
class PairedTest:
    """Result of a paired test of ``a`` against ``b`` (``mean_diff`` = mean of ``a - b``)."""

    p_value: float
    statistic: float
    n: int
    mean_diff: float
    method: str
    alternative: str


def _as_2d(values: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None], True
    if x.ndim == 2:
        return x, False
    raise ParameterError(f"values must be 1-D (n,) or 2-D (n, M), got shape {x.shape}")


@functools.lru_cache(maxsize=16)
def _resample_counts(seed: int, n: int, n_resamples: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each resample, shape ``(n_resamples, n)``.

    A resample mean is then one matrix product (counts @ x / n), much faster than gathering
    ``x[idx]``; the same seed gives the same resamples, so intervals do not depend on call order.
    """
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    counts = np.zeros((n_resamples, n))
    np.add.at(counts, (np.arange(n_resamples)[:, None], idx), 1.0)
    counts.flags.writeable = False
    return counts


def bootstrap_mean_ci(
    values: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile bootstrap confidence interval of the mean, NaNs ignored per column.

    Parameters
    ----------
    values : np.ndarray (n,) or (n, M)
        Per-clip values; each column is bootstrapped on its own (non-NaN) entries.
    n_resamples : int
        Number of bootstrap resamples.
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the resampling; the same seed and data give the same interval.

    Returns
    -------
    BootstrapCI
        ``mean``, ``low``, ``high`` and the number of finite values ``n`` per column
        (NaN where a column has no finite value; ``low == high == mean`` for one value).

    Notes
    -----
    Efron & Tibshirani, *An Introduction to the Bootstrap* (1993), percentile interval.
    """
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(n_resamples) < 1:
        raise ParameterError(f"n_resamples must be >= 1, got {n_resamples!r}")
    x, squeeze = _as_2d(values)
    finite = np.isfinite(x)
    n = finite.sum(axis=0)
    mean = np.full(x.shape[1], np.nan)
    low = np.full(x.shape[1], np.nan)
    high = np.full(x.shape[1], np.nan)
    q = [(1.0 - confidence) / 2.0 * 100.0, (1.0 + confidence) / 2.0 * 100.0]
    rng_seed = int(seed)
    if finite.all() and x.shape[0] > 0:
        cols = [np.arange(x.shape[1])]  # common case: every column at once
    else:
        cols = [np.array([j]) for j in range(x.shape[1]) if n[j] > 0]
    for cj in cols:
        col = x[:, cj]
        col = col[np.isfinite(col).all(axis=1)]
        m = col.shape[0]
        mean[cj] = col.mean(axis=0)
        boot = _resample_counts(rng_seed, m, int(n_resamples)) @ col / m  # (R, k) resample means
        lo, hi = np.percentile(boot, q, axis=0)
        low[cj], high[cj] = lo, hi
    if squeeze:
        return BootstrapCI(mean[0], low[0], high[0], n[0], confidence)
    return BootstrapCI(mean, low, high, n, confidence)


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    alternative: Alternative = "greater",
    method: PairedMethod = "wilcoxon",
    n_resamples: int = 10000,
    seed: int = 0,
) -> PairedTest:
    """Paired test of ``a`` against ``b`` measured on the same clips.

    Parameters
    ----------
    a, b : np.ndarray (n,)
        Values of two methods, aligned by clip; pairs with a NaN are dropped.
    alternative : {"greater", "less", "two-sided"}
        ``"greater"``: ``a`` tends to be larger than ``b``.
    method : {"wilcoxon", "permutation"}
        Wilcoxon signed-rank test (``scipy.stats.wilcoxon``) or a sign-flip permutation test
        of the mean difference (vectorized, seeded).
    n_resamples : int
        Number of random sign flips for ``"permutation"``.
    seed : int
        Seed of the permutation test.

    Returns
    -------
    PairedTest
        p-value (1.0 when every difference is zero, NaN with fewer than two pairs).
    """
    check_choice("alternative", alternative, ("greater", "less", "two-sided"))
    check_choice("method", method, ("wilcoxon", "permutation"))
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ParameterError(f"a and b must be paired (same length), got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = int(d.size)
    mean_diff = float(d.mean()) if n else float("nan")
    if n < 2:
        return PairedTest(float("nan"), float("nan"), n, mean_diff, method, alternative)
    if not np.any(d):
        return PairedTest(1.0, 0.0, n, mean_diff, method, alternative)
    if method == "wilcoxon":
        res = sps.wilcoxon(d, alternative=alternative, zero_method="wilcox")
        return PairedTest(
            float(res.pvalue), float(res.statistic), n, mean_diff, method, alternative
        )
    rng = np.random.default_rng(int(seed))
    signs = rng.choice(np.array([-1.0, 1.0]), size=(int(n_resamples), n))
    null = (signs * d).mean(axis=1)
    obs = d.mean()
    if alternative == "greater":
        hits = np.count_nonzero(null >= obs)
    elif alternative == "less":
        hits = np.count_nonzero(null <= obs)
    else:
        hits = np.count_nonzero(np.abs(null) >= abs(obs))
    # +1 in both terms: the observed labelling is one of the permutations (never p = 0).
    p = (hits + 1) / (int(n_resamples) + 1)
    return PairedTest(float(p), float(obs), n, mean_diff, method, alternative)


def paired_tests(
    diffs: Sequence[np.ndarray],
    *,
    method: PairedMethod = "wilcoxon",
    n_resamples: int = 10000,
    seed: int = 0,
) -> np.ndarray:
    """One-sided p-values of "the paired difference is positive" for many samples at once.

    Same tests as :func:`paired_test` with ``alternative="greater"``, vectorized over samples of
    equal length (one SciPy call per length instead of one per table cell).

    Parameters
    ----------
    diffs : sequence of np.ndarray (n_i,)
        Paired differences ``a - b``; NaNs are dropped.
    method, n_resamples, seed
        See :func:`paired_test`.

    Returns
    -------
    np.ndarray (len(diffs),)
        p-values (1.0 where every difference is zero, NaN with fewer than two pairs).
    """
    check_choice("method", method, ("wilcoxon", "permutation"))
    out = np.full(len(diffs), np.nan)
    by_len: dict[int, list[int]] = {}
    clean = []
    for i, d in enumerate(diffs):
        d = np.asarray(d, dtype=np.float64).ravel()
        d = d[np.isfinite(d)]
        clean.append(d)
        if d.size >= 2 and not np.any(d):
            out[i] = 1.0
        elif d.size >= 2:
            by_len.setdefault(d.size, []).append(i)
    for n, members in by_len.items():
        block = np.stack([clean[i] for i in members])  # (k, n)
        if method == "wilcoxon":
            res = sps.wilcoxon(block, alternative="greater", zero_method="wilcox", axis=1)
            out[members] = res.pvalue
        else:
            signs = np.random.default_rng(int(seed)).choice(
                np.array([-1.0, 1.0]), size=(int(n_resamples), n)
            )
            null = signs @ block.T / n  # (R, k)
            hits = np.count_nonzero(null >= block.mean(axis=1), axis=0)
            out[members] = (hits + 1) / (int(n_resamples) + 1)
    return out
