"""The paper's set of tables from :func:`~.tables.metric_table`: the summary (each method at
its best mask, chosen on held-out clips), per method, per mask, correct vs incorrect, per
condition, ground truth and the per-method faithfulness table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np
import pandas as pd

from audiointerp.errors import ParameterError
from audiointerp.experiments.reporting.resultsio import CURVE_METRICS, HIGHER_IS_BETTER, METRICS
from audiointerp.experiments.reporting.tables import MAX_DEGENERATE, MetricTable, metric_table
from audiointerp.experiments.reporting.workers import run_now

__all__ = ["best_masks", "faithfulness_table", "ground_truth_table", "paper_tables", "split_clips"]


def _mean_ranks(
    df: pd.DataFrame, block: Sequence[str], row: str, metrics: Sequence[str], max_degenerate: float
) -> pd.DataFrame:
    """Mean rank over ``metrics`` of each row inside its block, eligible rows only."""
    metrics = [m for m in metrics if m in df.columns and df[m].notna().any()]
    keys = [*block, row]
    grouped = df.groupby(keys, observed=True, sort=True)
    means = grouped[metrics].mean()
    share = (
        grouped["degenerate"].mean()
        if "degenerate" in df.columns
        else pd.Series(0.0, index=means.index)
    )
    means = means[share.reindex(means.index).to_numpy() <= max_degenerate]
    sign = np.array([1.0 if HIGHER_IS_BETTER.get(m, True) else -1.0 for m in metrics])
    score = -(means * sign)  # lower is better for every column
    ranks = score.groupby(level=list(range(len(block))), observed=True).rank(method="average")
    return ranks.mean(axis=1).rename("mean_rank").reset_index()


def best_masks(
    df: pd.DataFrame,
    *,
    metrics: Sequence[str] = METRICS,
    max_degenerate: float = MAX_DEGENERATE,
) -> pd.DataFrame:
    """The best mask per (model, condition, method): lowest mean rank over ``metrics``.

    Masks whose share of degenerate masks exceeds ``max_degenerate`` are not candidates.

    Returns
    -------
    pd.DataFrame
        Columns ``model, condition, method, mask, mean_rank``.
    """
    block = ("model", "condition", "method")
    ranks = _mean_ranks(df, block, "mask", metrics, max_degenerate)
    if ranks.empty:
        return ranks
    idx = ranks.groupby(list(block), observed=True)["mean_rank"].idxmin()
    return ranks.loc[idx.to_numpy()].reset_index(drop=True)


def split_clips(ids: Sequence[str], *, seed: int = 0) -> tuple[set[str], set[str]]:
    """Two disjoint halves of the clip ids, seeded: (selection half, report half)."""
    unique = np.array(sorted(set(map(str, ids))))
    perm = np.random.default_rng(int(seed)).permutation(unique.size)
    half = unique.size // 2
    return set(unique[perm[:half]]), set(unique[perm[half:]])


def _select(df: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``df`` whose (model, condition, method, mask) is one of ``chosen``."""
    keys = ["model", "condition", "method", "mask"]
    wanted = pd.MultiIndex.from_frame(chosen[keys].astype(str))
    have = pd.MultiIndex.from_frame(df[keys].astype(str))
    return df[have.isin(wanted)]


def paper_tables(
    df: pd.DataFrame,
    *,
    selection: str = "held-out",
    max_degenerate: float = MAX_DEGENERATE,
    on_table: Callable[[str, MetricTable], None] | None = None,
    submit: Callable[..., Future] | None = None,
    **options: object,
) -> dict[str, MetricTable]:
    """The paper's tables: summary, per method, per mask, correct vs incorrect, per condition.

    Parameters
    ----------
    df : pd.DataFrame
        Output of :func:`load_results`.
    selection : {"held-out", "same"}
        ``held-out``: each method's best mask is chosen on one seeded half of the clips and
        the summary reports the other half; ``same``: chosen and reported on every clip (the
        summary is then exploratory, and says so). With fewer than 4 clips, ``same``.
    max_degenerate : float
        See :func:`metric_table`.
    on_table : callable, optional
        Called with each table's name and table as soon as it is computed (the tables step
        starts drawing its figures then).
    submit : callable, optional
        ``submit(function, *args, **kwargs) -> Future``: where each table is computed (the
        tables step's workers); default here, one after the other.
    **options
        Passed to :func:`metric_table` (``n_resamples``, ``alpha``, ``test``, ``seed`` ...).

    Returns
    -------
    dict of str to MetricTable
        ``summary`` first; ``per_condition`` only when there is more than one condition.
    """
    if selection not in ("held-out", "same"):
        raise ParameterError(f"selection must be 'held-out' or 'same', got {selection!r}")
    opts = dict(options, max_degenerate=max_degenerate)
    seed = int(options.get("seed", 0))
    ids = df["id"].unique()
    if selection == "held-out" and len(ids) >= 4:
        pick_ids, report_ids = split_clips(ids, seed=seed)
        chosen = best_masks(df[df["id"].isin(pick_ids)], max_degenerate=max_degenerate)
        reported = df[df["id"].isin(report_ids)]
        note = (
            f"Held-out selection: each method's mask was chosen on {len(pick_ids)} clips "
            f"(lowest mean rank over {', '.join(METRICS)}, masks with more than "
            f"{max_degenerate:.0%} degenerate masks excluded) and is reported on the other "
            f"{len(report_ids)} (seed {seed}), so the summary's numbers are not selected on "
            "the clips they are measured on."
        )
    else:
        chosen = best_masks(df, max_degenerate=max_degenerate)
        reported = df
        note = (
            "Exploratory: each method's mask was chosen (lowest mean rank over "
            f"{', '.join(METRICS)}) on the same {len(ids)} clips it is reported on, so the "
            "summary flatters every method; run with more clips for a held-out selection."
        )
    run = submit or run_now
    jobs = {}
    jobs["summary"] = run(
        metric_table,
        _select(reported, chosen),
        block=("model", "condition"),
        row="method",
        name="summary",
        title="Summary: each method with its best mask",
        description="Each method at its best mask. Marks compare methods; * = significantly "
        "better than the runner-up.",
        notes=(note,),
        **opts,
    )
    jobs["per_method"] = run(
        metric_table,
        df,
        block=("model", "condition", "method"),
        row="mask",
        name="per_method",
        title="Per method: masks x metrics",
        description="For each model, condition and method, every mask built from the "
        "method's attribution map. Marks compare the masks of one method.",
        **opts,
    )
    jobs["per_mask"] = run(
        metric_table,
        df,
        block=("model", "condition", "mask"),
        row="method",
        name="per_mask",
        title="Per mask: methods x metrics",
        description="For each model, condition and mask, every method. Marks compare methods; "
        "* = the best method is significantly better than the runner-up (paired over clips).",
        **opts,
    )
    jobs["correctness"] = run(
        metric_table,
        df,
        block=("model", "condition", "mask", "correct"),
        row="method",
        name="correctness",
        title="Correctly vs incorrectly classified clips",
        description="The per-mask table split by whether the model's prediction was correct.",
        **opts,
    )
    if df["condition"].nunique() > 1:
        jobs["per_condition"] = run(
            metric_table,
            df,
            block=("model", "method", "mask"),
            row="condition",
            name="per_condition",
            title="Per condition: clean vs background noise",
            description="For each model, method and mask, the metrics under each condition "
            "(paired over clip ids; marks compare conditions).",
            **opts,
        )
    summary = jobs["summary"].result()
    mask_of = chosen.set_index(["model", "condition", "method"])["mask"]
    cells = summary.cells.copy()
    cells["mask"] = [
        mask_of.get(tuple(r))
        for r in cells[["model", "condition", "method"]].itertuples(index=False)
    ]
    tables = {
        "summary": MetricTable(
            summary.name,
            summary.title,
            summary.description,
            summary.block,
            summary.row,
            summary.metrics,
            cells,
            ("mask",),
            summary.baselines,
            summary.notes,
        )
    }
    report = on_table or (lambda name, table: None)
    report("summary", tables["summary"])
    for name, job in jobs.items():
        if name != "summary":
            tables[name] = job.result()
            report(name, tables[name])
    return tables


def per_map(df: pd.DataFrame, col: str) -> bool:
    """Whether ``col`` is one value per (model, condition, method, clip), whatever the mask.

    Relevance mass is (since it is computed on the attribution); results written by older
    versions computed it on each mask, and it is then shown per mask, with a note.
    """
    if col not in df.columns or not df[col].notna().any():
        return False
    keys = ["model", "condition", "method", "id"]
    return bool(df.groupby(keys, observed=True)[col].nunique().max() <= 1)


def ground_truth_table(df: pd.DataFrame, **options: object) -> MetricTable | None:
    """Localization AUC and SI-SDRi by method x mask (None without stems)."""
    metrics: tuple[str, ...] = ("loc_auc", "si_sdri")
    notes: tuple[str, ...] = ()
    if (
        "relevance_mass" in df.columns
        and df["relevance_mass"].notna().any()
        and not per_map(df, "relevance_mass")
    ):
        metrics = ("loc_auc", "relevance_mass", "si_sdri")
        notes = ("relevance_mass here varies by mask: these results were written by a version "
                 "that computed it on the mask, not on the positive attribution; rerun the grid "
                 "for the per-map value.",)  # fmt: skip
    if not any(m in df.columns and df[m].notna().any() for m in metrics):
        return None
    options = dict(options)
    options["notes"] = (*options.get("notes", ()), *notes)
    return metric_table(
        df,
        block=("model", "condition", "method"),
        row="mask",
        metrics=metrics,
        name="ground_truth",
        title="Ground truth (synthetic benchmark): masks",
        description="Agreement of each mask with the known target source: localization AUC "
        "of the mask against the ideal mask, and SI-SDR improvement of the masked-in audio "
        "over the mixture, both against the clean target (dB).",
        **options,
    )


def faithfulness_table(df: pd.DataFrame, **options: object) -> MetricTable | None:
    """Per method: deletion/insertion AUCs and relevance mass (mask-independent; None if absent).

    These are properties of the attribution map, one value per clip and method: the rows of
    one mask per method are read.
    """
    metrics = tuple(m for m in CURVE_METRICS if m in df.columns and df[m].notna().any())
    if per_map(df, "relevance_mass"):
        metrics = (*metrics, "relevance_mass")
    if not metrics:
        return None
    first = df.groupby("method", observed=True)["mask"].first()
    keep = df["mask"].astype(str).to_numpy() == df["method"].map(first).astype(str).to_numpy()
    return metric_table(
        df[keep],
        block=("model", "condition"),
        row="method",
        metrics=metrics,
        name="faithfulness",
        title="Per method: deletion / insertion and relevance mass",
        description="Properties of each attribution map, independent of the mask: area under "
        "the deletion curve (lower is better) and the insertion curve (higher is better) of "
        "the explained class's probability as the most attributed bins are removed or "
        "inserted in 5 % steps (Petsiuk et al. 2018), removed bins at the silence floor or "
        "imputed ROAD-style (Rong et al. 2022); relevance mass = share of the positive "
        "attribution inside the ideal mask (Arras et al. 2022).",
        **options,
    )
