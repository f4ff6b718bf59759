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
    return bootstrap_means([values], n_resamples=n_resamples, confidence=confidence, seed=seed)[0]


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
    diffs : sequence of np.ndarray (n_i,) or (n_i, k_i)
        Paired differences ``a - b``; a 2-D array holds ``k_i`` samples of the same clips, one
        per column (e.g. every metric of one pair of rows). NaNs are dropped per sample.
    method, n_resamples, seed
        See :func:`paired_test`.

    Returns
    -------
    np.ndarray (sum of k_i,)
        p-values in order (a 1-D sample counts as one column): 1.0 where every difference is
        zero, NaN with fewer than two pairs.
    """
    check_choice("method", method, ("wilcoxon", "permutation"))
    by_len: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}  # n -> (slots, rows)
    total = 0
    for d in diffs:
        d = np.asarray(d, dtype=np.float64)
        d = d.reshape(d.shape[0], -1)  # (n, k)
        slots = total + np.arange(d.shape[1])
        total += d.shape[1]
        finite = np.isfinite(d)
        if finite.all():  # the common case: every column at once
            slot_list, rows = by_len.setdefault(d.shape[0], ([], []))
            slot_list.append(slots)
            rows.append(d.T)
            continue
        for j in range(d.shape[1]):
            col = d[finite[:, j], j]
            slot_list, rows = by_len.setdefault(col.size, ([], []))
            slot_list.append(slots[j : j + 1])
            rows.append(col[None, :])
    out = np.full(total, np.nan)
    for n, (slot_list, rows) in by_len.items():
        if n < 2:
            continue  # fewer than two pairs: no test
        members = np.concatenate(slot_list)
        block = np.concatenate(rows)  # (k, n)
        zero = ~block.any(axis=1)
        out[members[zero]] = 1.0  # every difference zero
        members, block = members[~zero], block[~zero]
        if not len(members):
            continue
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

    Each result is ``bootstrap_mean_ci(group, ...)`` (the same resamples for the same size and
    seed): samples of one size share one count-matrix product and one percentile call instead
    of one per group and column.

    Parameters
    ----------
    groups : sequence of np.ndarray (n_i,) or (n_i, M_i)
        Per-clip values of each cell group.
    """
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(n_resamples) < 1:
        raise ParameterError(f"n_resamples must be >= 1, got {n_resamples!r}")
    # A complete group is one sample; a group with NaNs is one sample per set of columns finite
    # on the same clips (what bootstrap_mean_ci resamples for each of those columns).
    q = [(1.0 - confidence) / 2.0 * 100.0, (1.0 + confidence) / 2.0 * 100.0]
    shapes, by_n = [], {}  # by_n: n -> [(group, columns, values (n, k))]
    for i, g in enumerate(groups):
        x, squeeze = _as_2d(g)
        shapes.append((x.shape[1], squeeze))
        finite = np.isfinite(x)
        if finite.all():
            if x.shape[0]:
                by_n.setdefault(x.shape[0], []).append((i, np.arange(x.shape[1]), x))
            continue
        patterns: dict[bytes, list[int]] = {}
        for j in range(x.shape[1]):
            if finite[:, j].any():
                patterns.setdefault(finite[:, j].tobytes(), []).append(j)
        for cols in patterns.values():
            rows = finite[:, cols[0]]
            part = x[rows][:, cols]
            by_n.setdefault(part.shape[0], []).append((i, np.asarray(cols), part))
    cells = [[np.full(m, np.nan) for _ in range(3)] + [np.zeros(m, np.int64)] for m, _ in shapes]
    for n, samples in by_n.items():
        values = np.concatenate([x for _, _, x in samples], axis=1)  # (n, sum k)
        counts = _resample_counts(int(seed), n, int(n_resamples))
        boot = counts @ values / n  # (R, sum k) resample means
        lo, hi = np.percentile(boot, q, axis=0, overwrite_input=True)  # boot is ours to sort
        means = values.mean(axis=0)
        at = 0
        for i, cols, x in samples:
            k = x.shape[1]
            mean, low, high, count = cells[i]
            mean[cols], low[cols], high[cols] = means[at : at + k], lo[at : at + k], hi[at : at + k]
            count[cols] = n
            at += k
    out = []
    for (_, squeeze), (mean, low, high, count) in zip(shapes, cells, strict=True):
        if squeeze:
            out.append(BootstrapCI(mean[0], low[0], high[0], count[0], confidence))
        else:
            out.append(BootstrapCI(mean, low, high, count, confidence))
    return out
