"""Uncertainty for the results tables: bootstrap confidence intervals, paired tests, Holm.

Pure NumPy/SciPy functions on per-clip metric values. The bootstrap is vectorized (one count
matrix of shape ``(n_resamples, n)`` per sample size, shared by every cell of that size) and
seeded, so a table is bit-for-bit reproducible; the paired tests compare two rows on the
*same* clips, and :func:`holm` corrects a table's p-values for their number.
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

__all__ = [
    "BootstrapCI",
    "PairedTest",
    "bootstrap_mean_ci",
    "bootstrap_means",
    "holm",
    "paired_test",
    "paired_tests",
    "wilcoxon_greater",
]

#: Largest sample for SciPy's exact signed-rank distribution (no ties, no zeros), as ``auto``.
EXACT_MAX_N = 50
#: Largest tied sample whose sign flips are enumerated exhaustively (2**13 = 8192 patterns),
#: SciPy's ``auto`` threshold; larger tied samples use the tie-corrected normal approximation.
ENUMERATE_MAX_N = 13

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
        if alternative == "two-sided":
            res = sps.wilcoxon(d, alternative=alternative, zero_method="wilcox")
            return PairedTest(
                float(res.pvalue), float(res.statistic), n, mean_diff, method, alternative
            )
        sign = 1.0 if alternative == "greater" else -1.0
        p, _ = wilcoxon_greater((sign * d)[None, :])
        x = d[d != 0]
        ranks = sps.rankdata(np.abs(x))
        stat = float((ranks * (sign * x > 0)).sum())
        return PairedTest(float(p[0]), stat, n, mean_diff, method, alternative)
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
            out[members] = wilcoxon_greater(block)[0]
        else:
            signs = np.random.default_rng(int(seed)).choice(
                np.array([-1.0, 1.0]), size=(int(n_resamples), n)
            )
            null = signs @ block.T / n  # (R, k)
            hits = np.count_nonzero(null >= block.mean(axis=1), axis=0)
            out[members] = (hits + 1) / (int(n_resamples) + 1)
    return out


@functools.lru_cache(maxsize=16)
def _sign_patterns(n: int) -> np.ndarray:
    """Every assignment of signs to ``n`` ranks as 0/1, shape ``(2**n, n)``."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    bits = bits.astype(np.float64)
    bits.flags.writeable = False
    return bits


def wilcoxon_greater(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Wilcoxon signed-rank p-values ("``d`` tends to be positive"), row by row.

    Zeros are dropped (``zero_method="wilcox"``). The method is chosen per row, as SciPy's
    ``method="auto"`` documents, but each computed in one vectorized call:

    * no ties and ``n <= 50``: the exact null distribution (``scipy.stats.wilcoxon``,
      ``method="exact"``);
    * ties or zeros and ``n <= 13``: the exact permutation distribution of the signed ranks,
      all ``2**n`` sign flips enumerated at once (SciPy runs a Python-level
      ``permutation_test`` per row here: the same p-value, hundreds of times slower);
    * otherwise: the normal approximation with tie correction (``method="asymptotic"``).

    Parameters
    ----------
    d : np.ndarray (k, n)
        Paired differences, one sample per row (NaN-free).

    Returns
    -------
    p_value : np.ndarray (k,)
        1.0 where every difference is zero; NaN for rows with fewer than 2 differences.
    method : np.ndarray of str (k,)
        ``"exact"``, ``"permutation"`` or ``"asymptotic"`` (``""`` where undefined).
    """
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    k = d.shape[0]
    p = np.full(k, np.nan)
    how = np.full(k, "", dtype=object)
    nonzero = d != 0
    n_r = nonzero.sum(axis=1)
    p[(n_r == 0) & (d.shape[1] >= 2)] = 1.0
    for n in np.unique(n_r[n_r > 0]):
        rows = np.flatnonzero(n_r == n)
        x = d[rows][nonzero[rows]].reshape(len(rows), int(n))  # zeros dropped, order kept
        if n < 2:
            p[rows] = np.where(x[:, 0] > 0, 0.5, 1.0)  # one non-zero difference: 1 of 2 signs
            how[rows] = "permutation"
            continue
        mag = np.sort(np.abs(x), axis=1)
        tied = (np.diff(mag, axis=1) == 0).any(axis=1) | (d[rows] == 0).any(axis=1)
        exact = ~tied & (n <= EXACT_MAX_N)
        if exact.any():
            res = sps.wilcoxon(x[exact], alternative="greater", method="exact", axis=1)
            p[rows[exact]] = res.pvalue
            how[rows[exact]] = "exact"
        enum = tied & (n <= ENUMERATE_MAX_N)
        if enum.any():
            xs = x[enum]
            ranks = sps.rankdata(np.abs(xs), axis=1)  # average ranks for ties
            observed = (ranks * (xs > 0)).sum(axis=1)
            null = _sign_patterns(int(n)) @ ranks.T  # (2**n, k') statistic of every flip
            # tolerance: average ranks are multiples of 0.5, sums are exact in float64
            p[rows[enum]] = (null >= observed[None, :] - 1e-9).mean(axis=0)
            how[rows[enum]] = "permutation"
        rest = ~exact & ~enum
        if rest.any():
            res = sps.wilcoxon(x[rest], alternative="greater", method="asymptotic", axis=1)
            p[rows[rest]] = res.pvalue
            how[rows[rest]] = "asymptotic"
    return p, how


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values of one family of tests (NaNs are not tests).

    Parameters
    ----------
    p_values : np.ndarray (m,)

    Returns
    -------
    np.ndarray (m,)
        ``min(1, max_{j <= i} (m - j + 1) p_(j))`` in the original order; a test is rejected
        at family-wise level alpha when its adjusted p-value is below alpha.

    Notes
    -----
    Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 1979.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def bootstrap_means(
    groups: Sequence[np.ndarray],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[BootstrapCI]:
    """:func:`bootstrap_mean_ci` of many samples, those of equal size in one product.

    Each result is identical to ``bootstrap_mean_ci(group, ...)`` (the same resamples for the
    same size and seed); complete groups (no NaN) of one size share one count-matrix product
    and one percentile call instead of one per group.

    Parameters
    ----------
    groups : sequence of np.ndarray (n_i, M)
        Per-clip values of each cell group (same ``M`` for all).
    """
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(n_resamples) < 1:
        raise ParameterError(f"n_resamples must be >= 1, got {n_resamples!r}")
    out: list[BootstrapCI | None] = [None] * len(groups)
    by_n: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        g = np.asarray(g, dtype=np.float64)
        if g.ndim == 2 and g.shape[0] > 0 and np.isfinite(g).all():
            by_n.setdefault(g.shape[0], []).append(i)
        else:
            out[i] = bootstrap_mean_ci(g, n_resamples=n_resamples, confidence=confidence, seed=seed)
    q = [(1.0 - confidence) / 2.0 * 100.0, (1.0 + confidence) / 2.0 * 100.0]
    for n, members in by_n.items():
        stack = np.stack([np.asarray(groups[i], dtype=np.float64) for i in members])  # (G,n,M)
        counts = _resample_counts(int(seed), n, int(n_resamples))
        g_, _, m_ = stack.shape
        boot = counts @ stack.transpose(1, 0, 2).reshape(n, g_ * m_) / n  # (R, G*M)
        lo, hi = np.percentile(boot, q, axis=0)
        means = stack.mean(axis=1)
        lo, hi = lo.reshape(g_, m_), hi.reshape(g_, m_)
        for j, i in enumerate(members):
            out[i] = BootstrapCI(means[j], lo[j], hi[j], np.full(m_, n), confidence)
    return out  # type: ignore[return-value]
