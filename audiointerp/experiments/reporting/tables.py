"""The paper's results tables, computed from the runner's tidy per-clip table.

Input: one row per (model, condition, method, mask, id) with the metric columns of
:data:`METRICS` (and :data:`GT_METRICS` where the data has stems, :data:`CURVE_METRICS` where
the run drew deletion/insertion curves). Output: :class:`MetricTable` objects, each a long
frame of cells: mean, 95 % bootstrap CI, the clips counted (``n``) and those whose value is
undefined (``n_undefined``: SPS/COMP of an empty mask), the share of degenerate masks,
best/worst markers, a paired test of the best row against the runner-up and of every row
against each baseline, all p-values Holm-corrected within the table. Writing the files lives
in :mod:`.report`, rendering in :mod:`.tablefmt`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audiointerp.errors import ParameterError
from audiointerp.experiments.reporting.resultsio import (
    CURVE_METRICS,
    GT_METRICS,
    HIGHER_IS_BETTER,
    METRICS,
    load_results,
    load_sanity,
    prepare_results,
)
from audiointerp.experiments.reporting.stats import (
    PairedMethod,
    bootstrap_means,
    holm,
    paired_tests,
)

log = logging.getLogger(__name__)

__all__ = [
    "CURVE_METRICS",
    "GT_METRICS",
    "HIGHER_IS_BETTER",
    "MAX_DEGENERATE",
    "METRICS",
    "MetricTable",
    "baseline_methods",
    "best_masks",
    "faithfulness_table",
    "ground_truth_table",
    "load_results",
    "load_sanity",
    "metric_table",
    "paper_tables",
    "prepare_results",
    "select",
    "split_clips",
    "write_tables",
]

#: Largest share of degenerate (constant or near-constant) masks a row may have and still be
#: marked best or chosen as a method's best mask.
MAX_DEGENERATE = 0.05
#: What a reference method stands for (``AttributionMethod.reference``) when it is a
#: baseline every method should beat; the ideal mask is a ceiling, not a baseline.
BASELINE_KINDS = ("input", "chance")


@dataclass(frozen=True)
class MetricTable:
    """One results table in long form.

    Attributes
    ----------
    name, title, description : str
        File stem, heading and one-paragraph explanation.
    block : tuple of str
        Columns that define a block; best/worst and the paired test are decided inside a block.
    row : str
        The column whose values are compared inside a block (e.g. ``"method"``).
    metrics : tuple of str
        Metric columns, in display order.
    cells : pd.DataFrame
        One row per (block, row, metric): ``mean, low, high, n, n_undefined, degenerate,
        eligible, best, worst, p_value, p_holm, significant`` (the tests on the best row
        only) and per baseline ``b``: ``p_vs_<b>, p_vs_<b>_holm, beats_<b>``; plus any
        ``extra`` columns.
    extra : tuple of str
        Additional per-row label columns shown beside ``row`` (e.g. the chosen mask).
    baselines : tuple of str
        Methods every row was tested against.
    notes : tuple of str
        Sentences the page prints under the table (selection, corrections).
    """

    name: str
    title: str
    description: str
    block: tuple[str, ...]
    row: str
    metrics: tuple[str, ...]
    cells: pd.DataFrame
    extra: tuple[str, ...] = ()
    baselines: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def baseline_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """The methods among ``methods`` that are baselines (their class's ``reference`` kind).

    Read from the method registry, never from names; aliases and unknown names are not
    baselines.
    """
    from audiointerp.errors import AudioInterpError
    from audiointerp.interpretation import method_class

    out = []
    for name in methods:
        try:
            kind = getattr(method_class(str(name)), "reference", None)
        except AudioInterpError:
            continue
        if kind in BASELINE_KINDS:
            out.append(str(name))
    return tuple(out)


def _groups(df: pd.DataFrame, keys: list[str], metrics: tuple[str, ...]):
    """Per key: sorted clip ids, values ``(n, M)`` and the degenerate share."""
    ordered = df.sort_values([*keys, "id"], kind="stable")
    values = ordered[list(metrics)].to_numpy(dtype=np.float64)
    ids = ordered["id"].to_numpy()
    deg = (
        ordered["degenerate"].to_numpy(dtype=bool)
        if "degenerate" in ordered.columns
        else np.zeros(len(ordered), bool)
    )
    out = {}
    for key, idx in ordered.groupby(keys, observed=True, sort=True).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        out[key] = (ids[idx], values[idx], float(deg[idx].mean()) if idx.size else 0.0)
    return out


def _close(a: np.ndarray | float, b: float) -> np.ndarray | bool:
    """``np.isclose(a, b, rtol=1e-12, atol=0)`` without its per-call overhead (hot loop)."""
    return np.abs(np.asarray(a) - b) <= 1e-12 * abs(b)


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    (ids_a, va, _), (ids_b, vb, _) = a, b
    if len(ids_a) == len(ids_b) and np.array_equal(ids_a, ids_b):
        return va, vb
    _, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    return va[ia], vb[ib]


def metric_table(
    df: pd.DataFrame,
    *,
    block: Sequence[str],
    row: str,
    metrics: Sequence[str] = METRICS,
    name: str = "table",
    title: str = "",
    description: str = "",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    alpha: float = 0.05,
    test: PairedMethod = "wilcoxon",
    seed: int = 0,
    baselines: Sequence[str] | None = None,
    max_degenerate: float = MAX_DEGENERATE,
    notes: Sequence[str] = (),
) -> MetricTable:
    """Means with bootstrap CIs, best/worst markers and Holm-corrected paired tests.

    Parameters
    ----------
    df : pd.DataFrame
        Output of :func:`prepare_results` (possibly filtered).
    block : sequence of str
        Key columns of a block; comparisons happen between the ``row`` values of one block.
    row : str
        The compared column.
    metrics : sequence of str
        Metric columns; those absent from ``df`` or entirely NaN are left out.
    n_resamples, confidence, seed
        Bootstrap settings (see :func:`~audiointerp.experiments.reporting.stats.bootstrap_mean_ci`).
    alpha : float
        Family-wise significance level: a test counts when its Holm-adjusted p-value is below.
    test : {"wilcoxon", "permutation"}
        Paired one-sided test over clip ids (see
        :func:`~audiointerp.experiments.reporting.stats.paired_tests`).
    baselines : sequence of str, optional
        Methods every row is tested against (same block and row, ``method`` swapped), in the
        metric's better direction; default :func:`baseline_methods` of the data.
    max_degenerate : float
        Rows with a larger share of degenerate masks are never marked best.
    notes : sequence of str
        Extra sentences for the page.

    Returns
    -------
    MetricTable
    """
    if not 0.0 < alpha < 1.0:  # 2 would mark every tested row significant
        raise ParameterError(f"alpha must be in (0, 1), got {alpha!r}")
    block = tuple(block)
    for col in (*block, row):
        if col not in df.columns:
            raise ParameterError(f"table {name!r}: column {col!r} is not in the results")
    metrics = tuple(m for m in metrics if m in df.columns and df[m].notna().any())
    keys = [*block, row]
    groups = _groups(df, keys, metrics)
    present = [str(m) for m in df["method"].unique()] if "method" in df.columns else []
    if baselines is None:
        baselines = baseline_methods(present)
    baselines = tuple(b for b in baselines if b in present and "method" in keys)
    group_keys = list(groups)
    cis = bootstrap_means(
        [groups[k][1] for k in group_keys],
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    n_metrics = len(metrics)
    records = []
    for key, ci in zip(group_keys, cis, strict=True):
        ids, values, share = groups[key]
        undefined = np.isnan(values).sum(axis=0)
        for j, metric in enumerate(metrics):
            records.append(
                (*key, metric, ci.mean[j], ci.low[j], ci.high[j], int(ci.n[j]), int(undefined[j]),
                 share)
            )  # fmt: skip
    cells = pd.DataFrame.from_records(
        records,
        columns=[*keys, "metric", "mean", "low", "high", "n", "n_undefined", "degenerate"],
    )
    for col in keys:  # keep the data's categorical order (models, conditions, methods, masks)
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            cells[col] = cells[col].astype(df[col].dtype)
    mean = cells["mean"].to_numpy()
    eligible = cells["degenerate"].to_numpy() <= max_degenerate
    best = np.zeros(len(cells), bool)
    worst = np.zeros(len(cells), bool)
    # Each test: (cells, "runner-up" or baseline, differences (n, len(cells))), every column
    # one cell's test; a row against a baseline is tested on all its metrics in one array.
    tests: list[tuple[np.ndarray, str, np.ndarray]] = []
    method_at = keys.index("method") if "method" in keys else None
    signs = np.array([1.0 if HIGHER_IS_BETTER.get(m, True) else -1.0 for m in metrics])
    finite = np.isfinite(mean).reshape(len(group_keys), n_metrics)
    for g, key in enumerate(group_keys):  # every row against every baseline of its block
        if method_at is None:
            break
        for b in baselines:
            ref = (*key[:method_at], b, *key[method_at + 1 :])
            if str(key[method_at]) == b or ref not in groups or not finite[g].any():
                continue
            va, vb = _paired(groups[key], groups[ref])
            cols = np.flatnonzero(finite[g])
            tests.append((g * n_metrics + cols, b, (va[:, cols] - vb[:, cols]) * signs[cols]))
    by_block = cells.groupby([*block, "metric"], observed=True, sort=False).indices
    for bkey, idx in by_block.items():
        bkey = bkey if isinstance(bkey, tuple) else (bkey,)
        metric = bkey[-1]
        j = metrics.index(metric)
        sign = signs[j]
        idx = idx[np.isfinite(mean[idx])]
        if idx.size < 2:
            continue
        order = idx[np.argsort(-sign * mean[idx], kind="stable")]
        if not _close(mean[order[0]], mean[order[-1]]):
            worst[idx[_close(mean[idx], mean[order[-1]])]] = True
        candidates = order[eligible[order]]  # degenerate rows are never best
        if candidates.size == 0 or _close(mean[candidates[0]], mean[order[-1]]):
            continue  # nothing to choose between
        top = mean[candidates[0]]
        tie = candidates[_close(mean[candidates], top)]
        best[tie] = True  # ties share the mark (e.g. several masks at AI = 100 %)
        if candidates.size < 2:
            continue
        first, second = (group_keys[i // n_metrics] for i in candidates[:2])
        va, vb = _paired(groups[first], groups[second])
        tests.append((candidates[:1], "runner-up", sign * (va[:, j : j + 1] - vb[:, j : j + 1])))
    worst &= ~best
    raw = paired_tests([d for _, _, d in tests], method=test, seed=seed)
    adjusted = holm(raw)  # one family per table: every claim the table prints
    cells["eligible"], cells["best"], cells["worst"] = eligible, best, worst
    kinds = ["runner-up", *baselines]
    columns = {"runner-up": ("p_value", "p_holm")} | {
        b: (f"p_vs_{b}", f"p_vs_{b}_holm") for b in baselines
    }
    pvals = {k: (np.full(len(cells), np.nan), np.full(len(cells), np.nan)) for k in kinds}
    at = 0
    for where, kind, _ in tests:  # numpy, not .iat per cell
        pvals[kind][0][where] = raw[at : at + where.size]
        pvals[kind][1][where] = adjusted[at : at + where.size]
        at += where.size
    for kind in kinds:
        cells[columns[kind][0]], cells[columns[kind][1]] = pvals[kind]
    cells["significant"] = cells["p_holm"].to_numpy() < alpha
    for b in baselines:
        cells[f"beats_{b}"] = cells[f"p_vs_{b}_holm"].to_numpy() < alpha
    return MetricTable(
        name, title, description, block, row, metrics, cells, (), baselines, tuple(notes)
    )


def select(table: MetricTable, **keep: Sequence[object]) -> MetricTable:
    """The table restricted to some values of its key columns (for display), e.g. ``mask=["bin"]``.

    Markers and p-values are those of the full table.
    """
    cells = table.cells
    for col, values in keep.items():
        if col not in cells.columns:
            raise ParameterError(
                f"table {table.name!r} has no column {col!r}; columns: {[*table.block, table.row]}"
            )
        cells = cells[cells[col].astype(str).isin([str(v) for v in values])]
    return MetricTable(
        table.name,
        table.title,
        table.description,
        table.block,
        table.row,
        table.metrics,
        cells.reset_index(drop=True),
        table.extra,
        table.baselines,
        table.notes,
    )


def write_tables(*args, **kwargs):
    """See :func:`audiointerp.experiments.reporting.report.write_tables`."""
    from audiointerp.experiments.reporting.report import write_tables as _write

    return _write(*args, **kwargs)


# The paper's set of tables, built on metric_table (kept importable from here).
from audiointerp.experiments.reporting.paper import (  # noqa: E402
    best_masks,
    faithfulness_table,
    ground_truth_table,
    paper_tables,
    split_clips,
)
