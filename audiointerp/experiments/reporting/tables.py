"""The paper's results tables, computed from the runner's tidy per-clip table.

Input: one row per (model, condition, method, mask, id) with the metric columns of
:data:`METRICS` (and :data:`GT_METRICS` where the data has stems). Output: :class:`MetricTable`
objects, each a long frame of cells (mean, 95 % bootstrap CI, best/worst markers and a paired
test of the best row against the runner-up inside its block). Rendering to CSV, LaTeX and HTML
lives in :mod:`audiointerp.experiments.reporting.tablefmt`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audiointerp.errors import ParameterError
from audiointerp.experiments.reporting.resultsio import (
    GT_METRICS,
    HIGHER_IS_BETTER,
    METRICS,
    load_results,
    load_sanity,
    prepare_results,
)
from audiointerp.experiments.reporting.stats import PairedMethod, bootstrap_mean_ci, paired_tests

log = logging.getLogger(__name__)

__all__ = [
    "GT_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "MetricTable",
    "ground_truth_table",
    "load_results",
    "load_sanity",
    "metric_table",
    "paper_tables",
    "prepare_results",
    "select",
    "write_tables",
]


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
        One row per (block, row, metric): ``mean, low, high, n, best, worst, p_value,
        significant`` (the last two set on the best row only), plus any ``extra`` columns.
    extra : tuple of str
        Additional per-row label columns shown beside ``row`` (e.g. the chosen mask).
    """

    name: str
    title: str
    description: str
    block: tuple[str, ...]
    row: str
    metrics: tuple[str, ...]
    cells: pd.DataFrame
    extra: tuple[str, ...] = ()


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
) -> MetricTable:
    """Means with bootstrap CIs, best/worst markers and best-vs-runner-up paired tests.

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
        Significance level of the paired test.
    test : {"wilcoxon", "permutation"}
        Paired test, paired over clip ids (see :func:`~audiointerp.experiments.reporting.stats.paired_test`).

    Returns
    -------
    MetricTable
    """
    block = tuple(block)
    for col in (*block, row):
        if col not in df.columns:
            raise ParameterError(f"table {name!r}: column {col!r} is not in the results")
    metrics = tuple(m for m in metrics if m in df.columns and df[m].notna().any())
    keys = [*block, row]
    # One value per clip and row: duplicates (none in a runner table) are averaged.
    per_id = df.groupby([*keys, "id"], observed=True, sort=True)[list(metrics)].mean()
    records = []
    groups: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for key, group in per_id.groupby(level=list(range(len(keys))), observed=True, sort=True):
        ci = bootstrap_mean_ci(
            group.to_numpy(), n_resamples=n_resamples, confidence=confidence, seed=seed
        )
        key = key if isinstance(key, tuple) else (key,)
        groups[key] = (group.index.get_level_values("id").to_numpy(), group.to_numpy())
        for j, metric in enumerate(metrics):
            records.append((*key, metric, ci.mean[j], ci.low[j], ci.high[j], int(ci.n[j])))
    cells = pd.DataFrame.from_records(
        records, columns=[*keys, "metric", "mean", "low", "high", "n"]
    )
    for col in keys:  # keep the data's categorical order (models, conditions, methods, masks)
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            cells[col] = cells[col].astype(df[col].dtype)
    mean = cells["mean"].to_numpy()
    best = np.zeros(len(cells), bool)
    worst = np.zeros(len(cells), bool)
    p_value = np.full(len(cells), np.nan)
    rows = cells[row].to_numpy()
    diffs, at = [], []
    # Plain NumPy per block: a pandas round trip per block dominated the run time.
    by_block = cells.groupby([*block, "metric"], observed=True, sort=False).indices
    for bkey, idx in by_block.items():
        bkey = bkey if isinstance(bkey, tuple) else (bkey,)
        metric = bkey[-1]
        idx = idx[np.isfinite(mean[idx])]
        if idx.size < 2:
            continue
        sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0
        order = idx[np.argsort(-sign * mean[idx], kind="stable")]
        top, bottom = mean[order[0]], mean[order[-1]]
        if np.isclose(top, bottom, rtol=1e-12, atol=0.0):
            continue  # every row ties: nothing is best or worst
        # Ties share the mark (e.g. several masks at AI = 100 %).
        best[idx[np.isclose(mean[idx], top, rtol=1e-12, atol=0.0)]] = True
        worst[idx[np.isclose(mean[idx], bottom, rtol=1e-12, atol=0.0)]] = True
        j = metrics.index(metric)
        (ids_b, vals_b), (ids_r, vals_r) = (groups[(*bkey[:-1], rows[i])] for i in order[:2])
        if not np.array_equal(ids_b, ids_r):  # pair over the clips both rows have
            _, ib, ir = np.intersect1d(ids_b, ids_r, return_indices=True)
            vals_b, vals_r = vals_b[ib], vals_r[ir]
        diffs.append(sign * (vals_b[:, j] - vals_r[:, j]))
        at.append(order[0])
    p_value[at] = paired_tests(diffs, method=test, seed=seed)
    cells["best"], cells["worst"], cells["p_value"] = best, worst, p_value
    cells["significant"] = p_value < alpha
    return MetricTable(name, title, description, block, row, metrics, cells)


def best_masks(table: MetricTable) -> pd.DataFrame:
    """The best mask per (model, condition, method) by mean rank over the table's metrics.

    Parameters
    ----------
    table : MetricTable
        A table with ``row == "mask"`` (the per-method table).

    Returns
    -------
    pd.DataFrame
        Columns ``*table.block, "mask", "mean_rank"``.
    """
    cells = table.cells.dropna(subset=["mean"]).copy()
    sign = cells["metric"].map(lambda m: -1.0 if HIGHER_IS_BETTER.get(m, True) else 1.0)
    cells["score"] = sign * cells["mean"]
    cells["rank"] = cells.groupby([*table.block, "metric"], observed=True)["score"].rank(
        method="average"
    )
    mean_rank = (
        cells.groupby([*table.block, table.row], observed=True)["rank"].mean().rename("mean_rank")
    )
    mean_rank = mean_rank.reset_index()
    idx = mean_rank.groupby(list(table.block), observed=True)["mean_rank"].idxmin()
    return mean_rank.loc[idx.to_numpy()].reset_index(drop=True)


def paper_tables(df: pd.DataFrame, **options: object) -> dict[str, MetricTable]:
    """The paper's tables: per method, per mask, correct vs incorrect, per condition, summary.

    Parameters
    ----------
    df : pd.DataFrame
        Output of :func:`load_results`.
    **options
        Passed to :func:`metric_table` (``n_resamples``, ``alpha``, ``test``, ``seed`` ...).

    Returns
    -------
    dict of str to MetricTable
        Keyed by table name; ``per_condition`` only when there is more than one condition.
    """
    tables = {
        "per_method": metric_table(
            df,
            block=("model", "condition", "method"),
            row="mask",
            name="per_method",
            title="Per method: masks x metrics",
            description="For each model, condition and method, every mask built from the "
            "method's attribution map. Marks compare the masks of one method.",
            **options,
        ),
        "per_mask": metric_table(
            df,
            block=("model", "condition", "mask"),
            row="method",
            name="per_mask",
            title="Per mask: methods x metrics",
            description="For each model, condition and mask, every method. Marks compare methods; "
            "* = the best method is significantly better than the runner-up (paired over clips).",
            **options,
        ),
        "correctness": metric_table(
            df,
            block=("model", "condition", "mask", "correct"),
            row="method",
            name="correctness",
            title="Correctly vs incorrectly classified clips",
            description="The per-mask table split by whether the model's prediction was correct.",
            **options,
        ),
    }
    if df["condition"].nunique() > 1:
        tables["per_condition"] = metric_table(
            df,
            block=("model", "method", "mask"),
            row="condition",
            name="per_condition",
            title="Per condition: clean vs background noise",
            description="For each model, method and mask, the metrics under each condition "
            "(paired over clip ids; marks compare conditions).",
            **options,
        )
    chosen = best_masks(tables["per_method"])
    pick = _select(df, chosen)
    summary = metric_table(
        pick,
        block=("model", "condition"),
        row="method",
        name="summary",
        title="Summary: each method with its best mask",
        description="Each method at its best mask (lowest mean rank over the metrics in the "
        "per-method table). Marks compare methods; * = significantly better than the runner-up.",
        **options,
    )
    mask_of = chosen.set_index([*summary.block, "method"])["mask"]
    cells = summary.cells.copy()
    cells["mask"] = [
        mask_of.get(tuple(r)) for r in cells[[*summary.block, "method"]].itertuples(index=False)
    ]
    tables["summary"] = MetricTable(
        summary.name,
        summary.title,
        summary.description,
        summary.block,
        summary.row,
        summary.metrics,
        cells,
        extra=("mask",),
    )
    return tables


def _select(df: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``df`` whose (model, condition, method, mask) is one of ``chosen``."""
    keys = ["model", "condition", "method", "mask"]
    wanted = set(chosen[keys].astype(str).itertuples(index=False, name=None))
    have = df[keys].astype(str).itertuples(index=False, name=None)
    return df[[k in wanted for k in have]]


def ground_truth_table(df: pd.DataFrame, **options: object) -> MetricTable | None:
    """Localization AUC, relevance mass and SI-SDRi by method x mask (None without stems)."""
    if not any(m in df.columns and df[m].notna().any() for m in GT_METRICS):
        return None
    return metric_table(
        df,
        block=("model", "condition", "method"),
        row="mask",
        metrics=GT_METRICS,
        name="ground_truth",
        title="Ground truth (synthetic benchmark)",
        description="Agreement with the known target source: localization AUC of the attribution "
        "against the ideal mask, relevance mass inside it, and SI-SDR improvement of the masked-in "
        "audio over the mixture, both against the clean target (dB).",
        **options,
    )


@dataclass(frozen=True)
class TablesOutput:
    """What :func:`write_tables` produced: the tables, every file written and the HTML page."""

    tables: dict[str, MetricTable]
    sanity: pd.DataFrame
    files: list[Path]
    html: Path


def method_details(df: pd.DataFrame) -> pd.DataFrame:
    """What the methods recorded about themselves per model (``Explanation.info`` columns,
    e.g. SHAP's ``explainer``): one row per (model, method, column) with the values seen.

    Every column of the tidy table besides the keys, the per-clip values and the metrics is
    such a detail; methods that did not record it leave it empty and are not listed.
    """
    from audiointerp.experiments.core.scoring import CLIP_COLUMNS, GT_COLUMNS, METRIC_COLUMNS
    from audiointerp.experiments.grid.store import KEY_COLUMNS

    known = {*KEY_COLUMNS, *CLIP_COLUMNS, *METRIC_COLUMNS, *GT_COLUMNS}
    rows = []
    for col in (c for c in df.columns if c not in known):
        part = df[df[col].notna()]
        for (model, method), group in part.groupby(["model", "method"], observed=True):
            values = sorted({str(v) for v in group[col]})
            rows.append(
                {"model": model, "method": method, "detail": col, "value": ", ".join(values)}
            )
    return pd.DataFrame(rows, columns=["model", "method", "detail", "value"])


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees a half-written table
    return path


def sanity_table(sanity: pd.DataFrame | None, methods: Sequence[str]) -> pd.DataFrame:
    """The sanity-check results, or one ``status = "not run"`` row per method."""
    if sanity is not None and not sanity.empty:
        return sanity.reset_index(drop=True)
    return pd.DataFrame({"method": list(methods), "status": "not run"})


def write_tables(
    results: str | Path | pd.DataFrame,
    out_dir: str | Path = "supplementary",
    *,
    sanity: str | Path | pd.DataFrame | None = None,
    models: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    masks: Sequence[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    alpha: float = 0.05,
    test: PairedMethod = "wilcoxon",
    seed: int = 0,
) -> TablesOutput:
    """Compute every table and write CSV, LaTeX and one styled HTML page.

    Parameters
    ----------
    results : str, Path or pd.DataFrame
        A results folder or tidy CSV (see :func:`load_results`), or the table itself.
    out_dir : str or Path
        Output folder: ``tables.html`` and ``tables/<name>{.csv,_formatted.csv,.tex}``.
    sanity : str, Path or pd.DataFrame, optional
        Sanity-check results; by default any ``*sanity*.csv`` under the results folder, else
        the sanity table says "not run".
    models, conditions, methods, masks : sequence of str, optional
        Keep only these values (all by default).
    n_resamples, confidence, alpha, test, seed
        Statistics settings (see :func:`metric_table`).

    Returns
    -------
    TablesOutput
    """
    from audiointerp.experiments.reporting import tablefmt

    source = "DataFrame" if isinstance(results, pd.DataFrame) else str(results)
    if isinstance(results, pd.DataFrame):
        df = prepare_results(results)
    else:
        df = load_results(results)
        if sanity is None:
            sanity = load_sanity(results)
    for col, keep in (
        ("model", models),
        ("condition", conditions),
        ("method", methods),
        ("mask", masks),
    ):
        if keep:
            unknown = sorted(set(keep) - set(df[col].astype(str)))
            if unknown:
                raise ParameterError(
                    f"{col}s {unknown} are not in the results; available: "
                    f"{list(df[col].cat.categories)}"
                )
            df = df[df[col].astype(str).isin(list(keep))]
            df[col] = df[col].cat.remove_unused_categories()
    if isinstance(sanity, (str, Path)):
        sanity = pd.read_csv(sanity)
    if sanity is not None:  # the same model/method selection as the tables
        for col, keep in (("model", models), ("method", methods)):
            if keep and col in sanity.columns:
                sanity = sanity[sanity[col].astype(str).isin(list(keep))]
    options = dict(
        n_resamples=n_resamples, confidence=confidence, alpha=alpha, test=test, seed=seed
    )
    tables = paper_tables(df, **options)
    gt = ground_truth_table(df, **options)
    if gt is not None:
        tables["ground_truth"] = gt
    sanity_df = sanity_table(sanity, [str(m) for m in df["method"].cat.categories])

    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    sections: dict[str, tuple[str, str, str]] = {}
    for name, table in tables.items():
        files.append(_write_text(out / "tables" / f"{name}.csv", table.cells.to_csv(index=False)))
        text, _, _ = tablefmt.format_table(table, markers=True)
        files.append(_write_text(out / "tables" / f"{name}_formatted.csv", text.to_csv()))
        files.append(_write_text(out / "tables" / f"{name}.tex", tablefmt.to_latex(table)))
        sections[name] = (table.title, table.description, tablefmt.styler(table).to_html())
    files.append(_write_text(out / "tables" / "sanity.csv", sanity_df.to_csv(index=False)))
    details = method_details(df)
    if len(details):  # e.g. which SHAP explainer ran on which model
        files.append(
            _write_text(out / "tables" / "method_details.csv", details.to_csv(index=False))
        )
        sections["method_details"] = (
            "Method details",
            "What each method recorded about how it ran on each model (e.g. `explainer`: "
            "SHAP's DeepExplainer, or GradientExplainer where DeepExplainer cannot run).",
            details.style.hide(axis="index").to_html(),
        )
    sections["sanity"] = (
        "Sanity check (model-parameter randomization)",
        "Whether each method's attribution changes when the model's weights are "
        "randomized; 'not run' when the run has no sanity results.",
        sanity_df.style.hide(axis="index").to_html(),
    )
    intro = (
        f'<p class="legend">Source: {tablefmt.html.escape(source)} — {len(df)} rows, '
        f"models {list(df['model'].cat.categories)}, conditions {list(df['condition'].cat.categories)}. "
        f"Each cell: mean [{confidence:.0%} bootstrap CI, {n_resamples} resamples, seed {seed}]. "
        "<b>Bold/green</b> = best in its block, <i>italic/red</i> = worst; * = best is "
        f"significantly better than the runner-up ({test} paired over clip ids, p &lt; {alpha}). "
        "AI, AD, AG in percent; FF, FidIn, SPS in [0, 1]; COMP in nats; ↑ higher is better, "
        "↓ lower is better.</p>"
    )
    page = tablefmt.html_page(sections, title="audiointerp: interpretation metrics", intro=intro)
    html_path = _write_text(out / "tables.html", page)
    files.append(html_path)
    log.info("wrote %d table files to %s", len(files), out)
    return TablesOutput(tables, sanity_df, files, html_path)


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
    )
