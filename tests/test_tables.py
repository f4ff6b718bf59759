"""Tables: shapes, best/worst markers, paired tests and the CSV/LaTeX/HTML exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiointerp.errors import DatasetError, ParameterError
from audiointerp.experiments.reporting import tablefmt
from audiointerp.experiments.reporting.tables import (
    METRICS,
    load_results,
    metric_table,
    paper_tables,
    prepare_results,
    write_tables,
)

MASKS = ("binary_0.5", "minmax", "top_10%")


def fake_results(
    *,
    n_clips: int = 12,
    models=("mel",),
    conditions=("clean", "white"),
    methods=("saliency", "gradcam", "lime"),
    masks=MASKS,
    stems: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """A tidy runner table with planted structure: gradcam is better than the rest on every
    metric by a wide margin, saliency and lime are identical in distribution."""
    rng = np.random.default_rng(seed)
    rows = []
    shift = {"saliency": 0.0, "gradcam": 1.0, "lime": 0.0, "shap": 0.2, "slice": 0.1}
    for model in models:
        for condition in conditions:
            for method in methods:
                for k, mask in enumerate(masks):
                    for i in range(n_clips):
                        s = shift.get(method, 0.0) + 0.1 * k
                        noise = rng.normal(0, 0.05, 11)
                        label = i % 3
                        row = dict(
                            model=model,
                            condition=condition,
                            method=method,
                            mask=mask,
                            id=f"clip-{i}",
                            label=label,
                            prediction=label if i % 4 else 2 - label,
                            p=0.8,
                            p_in=0.6,
                            p_out=0.3,
                            FF=0.2 + 0.2 * s + noise[0],
                            AI=30 + 20 * s + 10 * noise[1],
                            AD=40 - 20 * s + 10 * noise[2],
                            AG=10 + 10 * s + 10 * noise[3],
                            FidIn=0.5 + 0.3 * s + noise[4],
                            SPS=0.4 + 0.2 * s + noise[5],
                            COMP=8 - 2 * s + noise[6],
                        )
                        row["correct"] = row["label"] == row["prediction"]
                        if stems:
                            row.update(
                                loc_auc=0.6 + 0.2 * s + noise[7],
                                relevance_mass=0.3 + 0.2 * s + noise[8],
                                si_sdr=2 + 3 * s + noise[9],
                                si_sdri=1 + 3 * s + noise[10],
                            )
                        rows.append(row)
    return pd.DataFrame(rows)


def test_per_mask_table_shape_markers_and_significance():
    df = prepare_results(fake_results(conditions=("clean",)))
    t = metric_table(df, block=("model", "condition", "mask"), row="method", n_resamples=200)
    assert len(t.cells) == 1 * 1 * len(MASKS) * 3 * len(METRICS)
    for metric in METRICS:
        cells = t.cells[(t.cells["metric"] == metric) & (t.cells["mask"] == "minmax")]
        best = cells.loc[cells["best"], "method"].tolist()
        assert best == ["gradcam"], metric  # AD and COMP: lower is better, also gradcam
        assert cells["worst"].sum() == 1 and not cells.loc[cells["best"], "worst"].any()
        assert cells.loc[cells["best"], "significant"].item()
        assert cells.loc[cells["best"], "p_value"].item() < 0.01
        assert cells.loc[~cells["best"], "p_value"].isna().all()
    assert (t.cells["low"] <= t.cells["mean"]).all() and (t.cells["mean"] <= t.cells["high"]).all()


def test_null_difference_is_not_significant():
    # Only saliency and lime: drawn from the same distribution, no planted difference.
    df = prepare_results(
        fake_results(methods=("saliency", "lime"), n_clips=40, conditions=("clean",))
    )
    t = metric_table(df, block=("model", "condition", "mask"), row="method", n_resamples=200)
    best = t.cells[t.cells["best"]]
    assert len(best) == len(MASKS) * len(METRICS)
    assert (best["significant"]).mean() <= 0.15  # ~alpha of the tests, not all of them


def test_worst_marker_respects_direction():
    df = prepare_results(fake_results(conditions=("clean",)))
    t = metric_table(df, block=("model", "condition", "method"), row="mask", n_resamples=100)
    # masks shift every score up by 0.1*k: the last mask is best on "higher" metrics and on
    # "lower" ones (AD/COMP decrease with s), the first is worst.
    for metric in ("FF", "AD", "COMP"):
        c = t.cells[(t.cells["metric"] == metric) & (t.cells["method"] == "gradcam")]
        assert c.loc[c["best"], "mask"].item() == MASKS[-1]
        assert c.loc[c["worst"], "mask"].item() == MASKS[0]


def test_paper_tables_and_summary_pick_a_mask_per_method():
    df = prepare_results(fake_results())
    tables = paper_tables(df, n_resamples=100)
    assert set(tables) == {"per_method", "per_mask", "correctness", "per_condition", "summary"}
    summary = tables["summary"]
    assert summary.extra == ("mask",)
    assert set(summary.cells["mask"]) == {MASKS[-1]}
    assert set(tables["correctness"].cells["correct"]) == {True, False}
    text, best, worst = tablefmt.format_table(summary)
    assert text.shape == (2 * 3, 1 + len(METRICS))  # (condition x method) rows, mask + metrics
    assert best.to_numpy().sum() == 2 * len(METRICS)


def test_single_condition_has_no_per_condition_table():
    tables = paper_tables(prepare_results(fake_results(conditions=("clean",))), n_resamples=50)
    assert "per_condition" not in tables


def test_missing_columns_and_bad_filters_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="missing column"):
        prepare_results(fake_results().drop(columns=["FF"]))
    with pytest.raises(DatasetError, match="no such file"):
        load_results(tmp_path / "nothing")
    with pytest.raises(ParameterError, match="not in the results"):
        write_tables(fake_results(), tmp_path, methods=["nope"], n_resamples=10)


def test_load_results_from_paper_layout(tmp_path):
    df = fake_results(conditions=("clean",), methods=("saliency",))
    for mask, group in df.groupby("mask"):
        d = tmp_path / "mel" / "saliency_clean" / "csvs"
        d.mkdir(parents=True, exist_ok=True)
        group.drop(columns=["model", "method", "condition", "mask"]).to_csv(
            d / f"{mask}.csv", index=False
        )
    loaded = load_results(tmp_path)
    assert len(loaded) == len(df) and set(loaded["mask"]) == set(MASKS)
    assert set(loaded["model"]) == {"mel"} and set(loaded["condition"]) == {"clean"}


def test_write_tables_exports_csv_latex_html(tmp_path):
    df = fake_results()
    df.to_csv(tmp_path / "results.csv", index=False)
    out = write_tables(tmp_path, tmp_path / "supp", n_resamples=100)
    names = {p.name for p in out.files}
    for name in (
        "per_method",
        "per_mask",
        "correctness",
        "per_condition",
        "summary",
        "ground_truth",
    ):
        assert {f"{name}.csv", f"{name}_formatted.csv", f"{name}.tex"} <= names
    page = out.html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "font-weight: bold" in page
    assert "not run" in page  # no sanity CSV in this results folder
    tex = (tmp_path / "supp" / "tables" / "per_mask.tex").read_text()
    assert "\\begin{tabular}" in tex and "\\bfseries" in tex and "\\itshape" in tex
    assert "top\\_10\\%" in tex  # mask names are escaped for LaTeX
    formatted = pd.read_csv(tmp_path / "supp" / "tables" / "summary_formatted.csv")
    assert formatted.astype(str).apply(lambda c: c.str.contains("▲")).to_numpy().any()
    gt = pd.read_csv(tmp_path / "supp" / "tables" / "ground_truth.csv")
    assert set(gt["metric"]) == {"loc_auc", "relevance_mass", "si_sdri"}


def test_sanity_csv_is_used_when_present(tmp_path):
    fake_results(stems=False).to_csv(tmp_path / "results.csv", index=False)
    pd.DataFrame({"method": ["saliency"], "rank_correlation": [0.1], "passed": [True]}).to_csv(
        tmp_path / "sanity.csv", index=False
    )
    out = write_tables(tmp_path, tmp_path / "supp", n_resamples=20)
    assert "ground_truth" not in out.tables
    assert list(out.sanity.columns) == ["method", "rank_correlation", "passed"]


def test_ties_share_marks_and_a_constant_column_gets_none():
    df = fake_results(conditions=("clean",))
    df["AI"] = 100.0  # every method at 100 %: nothing is best or worst
    df.loc[df["method"] == "lime", "FidIn"] = df.loc[df["method"] == "gradcam", "FidIn"].to_numpy()
    t = metric_table(
        prepare_results(df), block=("model", "condition", "mask"), row="method", n_resamples=50
    )
    ai = t.cells[t.cells["metric"] == "AI"]
    assert not ai["best"].any() and not ai["worst"].any()
    fid = t.cells[(t.cells["metric"] == "FidIn") & (t.cells["mask"] == "minmax")]
    assert set(fid.loc[fid["best"], "method"]) == {"gradcam", "lime"}
    tex = tablefmt.to_latex(t)
    assert "↑" not in tex and "$\\uparrow$" in tex and "$\\downarrow$" in tex


def test_tables_command(tmp_path, capsys):
    from audiointerp.cli import main

    fake_results().to_csv(tmp_path / "results.csv", index=False)
    assert (
        main(
            [
                "tables",
                "--results",
                str(tmp_path),
                "--out",
                str(tmp_path / "s"),
                "--n-resamples",
                "20",
                "--methods",
                "saliency",
                "gradcam",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Summary" in out and "tables.html" in out and "lime" not in out
    assert main(["tables", "--results", str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit):
        main(["tables", "--help"])
    assert "--n-resamples" in capsys.readouterr().out
