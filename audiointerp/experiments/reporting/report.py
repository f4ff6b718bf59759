"""``write_tables``: every table as CSV and LaTeX, the figures, and one HTML page.

The page puts the summary first, with a table of contents, then the figures, then every
table with its notes (selection, Holm correction, degenerate masks, undefined values, map
resolutions, grids). Each step is reported: a progress bar on a terminal, one log line per
step elsewhere (CI, files), never carriage-return bars in a log.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from audiointerp.errors import ParameterError
from audiointerp.experiments.reporting import tablefmt
from audiointerp.experiments.reporting.resultsio import (
    CURVE_METRICS,
    curve_point_columns,
    load_cascade,
    load_results,
    load_sanity,
    prepare_results,
)
from audiointerp.experiments.reporting.stats import PairedMethod, bootstrap_means
from audiointerp.experiments.reporting.tables import (
    MAX_DEGENERATE,
    MetricTable,
    faithfulness_table,
    ground_truth_table,
    paper_tables,
)
from audiointerp.experiments.reporting.workers import Workers

log = logging.getLogger(__name__)

__all__ = ["TablesOutput", "accuracy_table", "curve_table", "sanity_table", "write_tables"]


@dataclass(frozen=True)
class TablesOutput:
    """What :func:`write_tables` produced: the tables, every file written and the HTML page."""

    tables: dict[str, MetricTable]
    sanity: pd.DataFrame
    files: list[Path]
    html: Path
    figures: dict[str, Path]
    seconds: dict[str, float]


class Steps:
    """Progress of the tables step (``audiointerp.progress``): a bar on a terminal or in
    Jupyter, one complete line per step elsewhere; ``enabled=False`` is silent."""

    def __init__(self, total: int, *, enabled: bool | None) -> None:
        from audiointerp.progress import progress_bar

        self.seconds: dict[str, float] = {}
        self.bar = progress_bar(total=total, desc="tables", unit="step", disable=enabled is False)
        self.t = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.t, 3)
        self.t = now
        self.bar.set_postfix_str(f"{name} ({self.seconds[name]:.1f} s)")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees a half-written table
    return path


def _render_table(table: MetricTable, folder: Path, name: str) -> tuple[list[Path], str]:
    """Write table ``name``'s CSV, formatted CSV and LaTeX; return the files and its HTML."""
    formatted = tablefmt.format_table(table)
    files = [
        _write_text(folder / f"{name}.csv", table.cells.to_csv(index=False)),
        _write_text(folder / f"{name}_formatted.csv", tablefmt.with_markers(*formatted).to_csv()),
        _write_text(folder / f"{name}.tex", tablefmt.to_latex(table, formatted)),
    ]
    return files, tablefmt.to_html(table, formatted)


def sanity_table(sanity: pd.DataFrame | None, methods: Sequence[str]) -> pd.DataFrame:
    """The sanity-check results, or one ``status = "not run"`` row per method."""
    if sanity is not None and not sanity.empty:
        return sanity.reset_index(drop=True)
    return pd.DataFrame({"method": list(methods), "status": "not run"})


def accuracy_table(df: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Accuracy of each model per condition over its explained clips, with a bootstrap CI."""
    clips = df.drop_duplicates(["model", "condition", "id"])
    groups = list(clips.groupby(["model", "condition"], observed=True, sort=True))
    cis = bootstrap_means(
        [g["correct"].to_numpy(float)[:, None] for _, g in groups],
        n_resamples=n_resamples,
        seed=seed,
    )
    rows = [
        {"model": m, "condition": c, "n": len(g), "mean": ci.mean[0], "low": ci.low[0],
         "high": ci.high[0]}
        for ((m, c), g), ci in zip(groups, cis, strict=True)
    ]  # fmt: skip
    out = pd.DataFrame(rows)
    for col in ("model", "condition"):
        out[col] = out[col].astype(df[col].dtype)
    return out


def method_details(df: pd.DataFrame) -> pd.DataFrame:
    """What the methods recorded about themselves per model (``Explanation.info`` columns,
    e.g. SHAP's ``explainer``): one row per (model, method, column) with the values seen.

    Every column of the tidy table besides the keys, the per-clip values, the metrics and the
    curves is such a detail; methods that did not record it leave it empty and are not listed.
    """
    from audiointerp.experiments.columns import (
        CLIP_COLUMNS,
        FLAG_COLUMNS,
        GT_COLUMNS,
        KEY_COLUMNS,
        METRIC_COLUMNS,
    )

    known = {*KEY_COLUMNS, *CLIP_COLUMNS, *METRIC_COLUMNS, *GT_COLUMNS, *FLAG_COLUMNS, "grid"}
    known |= set(CURVE_METRICS)
    known |= set(curve_point_columns(df.columns))
    rows = []
    for col in (c for c in df.columns if c not in known):
        part = df[df[col].notna()]
        for (model, method), group in part.groupby(["model", "method"], observed=True):
            values = sorted({str(v) for v in group[col]})
            rows.append(
                {"model": model, "method": method, "detail": col, "value": ", ".join(values)}
            )
    return pd.DataFrame(rows, columns=["model", "method", "detail", "value"])


def curve_table(df: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame | None:
    """Mean deletion/insertion curve per (model, condition, method, curve), 95 % bands."""
    points = curve_point_columns(df.columns)
    if not points:
        return None
    first = df.groupby("method", observed=True)["mask"].first()  # curves: one per clip
    one = df[df["mask"].astype(str).to_numpy() == df["method"].map(first).astype(str).to_numpy()]
    curves = [c for c in CURVE_METRICS if any(p.startswith(f"{c}_k") for p in points)]
    rows = []
    groups = list(one.groupby(["model", "condition", "method"], observed=True, sort=True))
    for name in curves:
        cols = [p for p in points if p.startswith(f"{name}_k")]
        ks = np.array([int(c.rsplit("_k", 1)[1]) / 100 for c in cols])
        done = [
            (key, g) for key, g in groups if g[cols].notna().to_numpy().any()
        ]  # curve_conditions
        cis = bootstrap_means(
            [g[cols].to_numpy(float) for _, g in done], n_resamples=n_resamples, seed=seed
        )
        for (key, _), ci in zip(done, cis, strict=True):
            for j, k in enumerate(ks):
                rows.append((*key, name, k, ci.mean[j], ci.low[j], ci.high[j]))
    out = pd.DataFrame(
        rows, columns=["model", "condition", "method", "curve", "k", "mean", "low", "high"]
    )
    for col in ("model", "condition", "method"):
        out[col] = out[col].astype(df[col].dtype)
    return out


def _notes(df: pd.DataFrame, manifest: dict | None, alpha: float, test: str) -> list[str]:
    notes = [
        f"Tests: one-sided paired {test} tests over clip ids, every p-value of a table "
        f"Holm-corrected within that table (the CSVs hold both, p_value/p_holm and "
        f"p_vs_<baseline>/_holm); a mark needs a corrected p below {alpha}.",
        f"Degenerate masks: constant or near-constant masks (spread below 0.01 over the bins: "
        f"an all-ones mask keeps p, an empty one removes everything) are counted per cell "
        f"(the 'degenerate' column); a row with more than {MAX_DEGENERATE:.0%} of them is never "
        "marked best, nor chosen as a method's best mask.",
        "Undefined values: SPS and COMP of an empty mask, and the relevance mass of a map with "
        "no positive value, are undefined; they are left out of the means and counted "
        "('(n=k)' in a cell, n and n_undefined in the CSVs).",
    ]
    if "grid" in df.columns and df["grid"].nunique() > 1:
        grids = sorted(df["grid"].astype(str).unique())
        notes.append(
            f"Grids: rows of {len(grids)} runs {grids} whose configs differ only in models, "
            "conditions or methods."
        )
    curves = [c for c in CURVE_METRICS if c in df.columns]
    if curves:
        done = df[curves].notna().any(axis=1).groupby(df["condition"], observed=True).any()
        skipped = [str(c) for c, computed in done.items() if not computed]
        if skipped:
            notes.append(
                f"Deletion/insertion curves were not computed for {', '.join(skipped)} "
                "(the run's curve_conditions): '– (n=0)' in those cells."
            )
    resolution = (manifest or {}).get("resolution") or {}
    for model, per_method in resolution.items():
        parts = [
            f"{m}: {'adaptive' if r is None else f'{r[0]} x {r[1]}'}"
            for m, r in (per_method or {}).items()
        ]
        if parts:
            notes.append(f"Effective map resolution on {model} (freq x time): {', '.join(parts)}.")
    return notes


def write_tables(
    results: str | Path | pd.DataFrame,
    out_dir: str | Path = "supplementary",
    *,
    sanity: str | Path | pd.DataFrame | None = None,
    models: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    masks: Sequence[str] | None = None,
    grid: str | None = None,
    baselines: Sequence[str] | None = None,
    selection: str = "held-out",
    max_degenerate: float = MAX_DEGENERATE,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    alpha: float = 0.05,
    test: PairedMethod = "wilcoxon",
    seed: int = 0,
    plots: bool = True,
    progress: bool | None = None,
) -> TablesOutput:
    """Compute every table and write CSV, LaTeX, the figures and one styled HTML page.

    Parameters
    ----------
    results : str, Path or pd.DataFrame
        A results folder or tidy CSV (see :func:`load_results`), or the table itself.
    out_dir : str or Path
        Output folder: ``tables.html``, ``tables/<name>{.csv,_formatted.csv,.tex}`` and
        ``tables/figures/<name>.{png,pdf}``.
    sanity : str, Path or pd.DataFrame, optional
        Sanity-check results; by default any ``*sanity*.csv`` under the results folder (and
        ``<model>/cascade.csv`` for the per-layer plot), else the table says "not run".
    models, conditions, methods, masks : sequence of str, optional
        Keep only these values (all by default).
    grid : str, optional
        Keep only the rows of this grid (config fingerprint).
    baselines : sequence of str, optional
        Methods every row is tested against; default the data's reference methods.
    selection : {"held-out", "same"}
        How the summary picks each method's mask (see :func:`paper_tables`).
    max_degenerate : float
        Share of degenerate masks above which a row is never best.
    n_resamples, confidence, alpha, test, seed
        Statistics settings (see :func:`metric_table`).
    plots : bool
        Draw the figures (seaborn).
    progress : bool, optional
        Report each step (default: a bar on a terminal, log lines otherwise); False: silent.

    Returns
    -------
    TablesOutput
    """
    steps = Steps(7 if plots else 6, enabled=progress)
    source = "DataFrame" if isinstance(results, pd.DataFrame) else str(results)
    cascade_df = manifest = None
    if isinstance(results, pd.DataFrame):
        df = prepare_results(results, grid=grid)
    else:
        df = load_results(results, grid=grid)
        if sanity is None:
            sanity = load_sanity(results)
            cascade_df = load_cascade(results)
        from audiointerp.experiments.grid.manifest import read_manifest

        root = Path(results)
        manifest = read_manifest(root if root.is_dir() else root.parent)
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
    references = (manifest or {}).get("references")
    if baselines is None and isinstance(references, dict):
        # the run's own record: no method module (captum, shap ...) imported to ask the classes
        from audiointerp.experiments.reporting.tables import BASELINE_KINDS

        present = [str(m) for m in df["method"].unique()]  # the order baseline_methods gives
        baselines = tuple(m for m in present if references.get(m) in BASELINE_KINDS)
    steps("read results")
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    # tables and figures in workers, each from the moment its inputs exist (workers.py)
    jobs = Workers(out / "tables" / "figures" if plots else None)
    options = dict(n_resamples=n_resamples, confidence=confidence, alpha=alpha, test=test,
                   seed=seed, baselines=baselines, max_degenerate=max_degenerate)  # fmt: skip
    # One BLAS thread (the workers inherit it): the bootstrap's products are small, and on the
    # demo's tables a second OpenBLAS thread spun for 2.5 s of CPU at the same wall time.
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _write(df, out, jobs, steps, sanity, cascade_df, manifest, source, selection,
                          options)  # fmt: skip
    finally:
        jobs.close()
        steps.close()


def _write(df, out, jobs, steps, sanity, cascade_df, manifest, source, selection,
           options) -> TablesOutput:  # fmt: skip
    """:func:`write_tables` from the filtered results on (``jobs``: the :class:`Workers`)."""
    n_resamples, seed = options["n_resamples"], options["seed"]
    first = str(df["condition"].cat.categories[0])
    accuracy = accuracy_table(df, n_resamples=n_resamples, seed=seed)
    curve_df = curve_table(df, n_resamples=n_resamples, seed=seed)
    jobs.figure("accuracy", "accuracy_bars", accuracy)
    if curve_df is not None:
        jobs.figure("curves", "curves", curve_df, condition=first)
    jobs.figure("sanity_cascade", "cascade", cascade_df, sanity)
    steps("accuracy and curves")
    extra = {  # computed beside the paper's tables
        "faithfulness": jobs.submit(faithfulness_table, df, **options),
        "ground_truth": jobs.submit(ground_truth_table, df, **options),
    }

    folder = out / "tables"
    renders: dict[str, Future] = {}  # name -> (files, HTML) of each table, written by a worker

    def done(name: str, table: MetricTable) -> None:
        renders[name] = jobs.submit(_render_table, table, folder, name)
        if name == "summary":  # the two figures of the paper's tables
            jobs.figure("summary_by_condition", "condition_bars", table)
        elif name == "per_method":
            jobs.figure("heatmaps", "heatmaps", table, condition=first,
                        max_degenerate=options["max_degenerate"])  # fmt: skip

    tables = paper_tables(df, selection=selection, on_table=done, submit=jobs.submit, **options)
    steps("paper tables")
    for name, job in extra.items():
        table = job.result()
        if table is not None:
            tables[name] = table
            done(name, table)
    steps("faithfulness and ground truth")
    sanity_df = sanity_table(sanity, [str(m) for m in df["method"].cat.categories])

    files: list[Path] = []
    rendered: dict[str, str] = {}
    for name in tables:
        written, rendered[name] = renders[name].result()
        files.extend(written)
    files.append(_write_text(out / "tables" / "sanity.csv", sanity_df.to_csv(index=False)))
    details = method_details(df)
    if len(details):  # e.g. which SHAP explainer ran on which model
        files.append(
            _write_text(out / "tables" / "method_details.csv", details.to_csv(index=False))
        )
    files.append(_write_text(out / "tables" / "accuracy.csv", accuracy.to_csv(index=False)))
    if curve_df is not None:
        files.append(_write_text(out / "tables" / "curves.csv", curve_df.to_csv(index=False)))
    steps("CSV, LaTeX and HTML tables")

    figures: dict[str, Path] = {}
    if jobs.folder is not None:
        drawn = jobs.figures()
        for name in FIGURE_ORDER:  # the page's order, whichever figure finished first
            if name in drawn:
                files.extend(drawn[name])
                figures[name] = drawn[name][0]
        steps("figures")

    page = _page(tables, rendered, figures, sanity_df, df, source, manifest, options["alpha"],
                 options["test"], options["confidence"], n_resamples, seed, details)  # fmt: skip
    html_path = _write_text(out / "tables.html", page)
    files.append(html_path)
    steps("HTML page")
    log.info("wrote %d table files to %s", len(files), out)
    return TablesOutput(tables, sanity_df, files, html_path, figures, steps.seconds)


#: The figures in the page's order.
FIGURE_ORDER = ("accuracy", "summary_by_condition", "heatmaps", "curves", "sanity_cascade")
FIGURE_TEXT = {
    "summary_by_condition": "Each method at its chosen mask, per condition (95 % intervals).",
    "heatmaps": "Method x mask means of every metric (first condition); × marks rows with "
    "too many degenerate masks.",
    "curves": "Mean deletion and insertion curves per method with 95 % bands.",
    "accuracy": "How often each model's prediction is right on the explained clips.",
    "sanity_cascade": "Model-parameter randomization: similarity of the maps as layers are "
    "randomized from the top (Adebayo et al. 2018); lower is better.",
}


def _page(tables, rendered, figures, sanity_df, df, source, manifest, alpha, test, confidence,
          n_resamples, seed, details=None) -> str:  # fmt: skip
    from audiointerp.experiments.reporting import plots as plotting

    def section(key: str, title: str, body: str) -> tuple[str, str, str]:
        return key, title, body

    sections = []
    notes = _notes(df, manifest, alpha, test)

    def table_body(name: str) -> str:
        t = tables[name]
        extra = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in t.notes)
        return f"<p>{html.escape(t.description)}</p>{extra}{rendered[name]}"

    sections.append(section("summary", tables["summary"].title, table_body("summary")))
    if figures:
        figs = "".join(
            f"<figure><img src='{plotting.png_base64(p)}' alt='{html.escape(n)}'>"
            f"<figcaption>{html.escape(FIGURE_TEXT.get(n, n))} "
            f"(<code>tables/figures/{html.escape(n)}.pdf</code>)</figcaption></figure>"
            for n, p in figures.items()
        )
        sections.append(section("figures", "Figures", figs))
    for name in ("faithfulness", "per_mask", "per_method", "correctness", "per_condition",
                 "ground_truth"):  # fmt: skip
        if name in tables:
            sections.append(section(name, tables[name].title, table_body(name)))
    if details is not None and len(details):
        sections.append(
            section(
                "method_details",
                "Method details",
                "<p>What each method recorded about how it ran on each model (e.g. "
                "<code>explainer</code>: SHAP's DeepExplainer, or GradientExplainer where "
                "DeepExplainer cannot run).</p>" + details.style.hide(axis="index").to_html(),
            )
        )
    sections.append(
        section(
            "sanity",
            "Sanity check (model-parameter randomization)",
            "<p>Whether each method's attribution changes when the model's weights are "
            "randomized; 'not run' when the run has no sanity results.</p>"
            + sanity_df.style.hide(axis="index").to_html(),
        )
    )
    sections.append(section("notes", "Notes", "".join(f"<p>{html.escape(n)}</p>" for n in notes)))
    baselines = tables["summary"].baselines
    marks = tablefmt.baseline_marks(baselines)
    beat = (
        "; " + ", ".join(f"{m} = significantly better than {b}" for b, m in marks.items())
        if marks
        else "; no baseline method (random, energy) in these results"
    )
    intro = (
        f'<p class="legend">Source: {html.escape(source)} — {len(df)} rows, models '
        f"{list(df['model'].cat.categories)}, conditions {list(df['condition'].cat.categories)}. "
        f"Each cell: mean [{confidence:.0%} bootstrap CI, {n_resamples} resamples, seed {seed}]. "
        "<b>Bold/green</b> = best in its block, <i>italic/red</i> = worst; * = best is "
        f"significantly better than the runner-up{html.escape(beat)} ({test}, paired over clip "
        f"ids, Holm-corrected within each table, p &lt; {alpha}). AI, AD, AG in percent; FF, "
        "FidIn, SPS in [0, 1]; COMP in nats; ↑ higher is better, ↓ lower is better.</p>"
    )
    return tablefmt.html_page(
        {k: (t, "", b) for k, t, b in sections},
        title="audiointerp: interpretation metrics",
        intro=intro,
    )
