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
                                # a property of the map: the same for every mask
                                relevance_mass=0.3 + 0.2 * shift.get(method, 0.0) + 0.01 * (i % 5),
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
    out = write_tables(tmp_path, tmp_path / "supp", n_resamples=100, progress=False)
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
    assert set(gt["metric"]) == {"loc_auc", "si_sdri"}
    faith = pd.read_csv(tmp_path / "supp" / "tables" / "faithfulness.csv")
    assert set(faith["metric"]) == {"relevance_mass"}  # a property of the map, not the mask
    # results of the older per-mask definition stay per mask, with a note saying so
    old = df.assign(relevance_mass=np.random.default_rng(0).random(len(df)))
    from audiointerp.experiments.reporting.tables import ground_truth_table

    t = ground_truth_table(prepare_results(old), n_resamples=10)
    assert "relevance_mass" in t.metrics and "computed it on the mask" in t.notes[0]
    # summary first, a table of contents, the figures embedded and written as PNG and PDF
    assert page.index('id="summary"') < page.index('id="figures"') < page.index('id="per_mask"')
    assert "<nav>" in page and page.count("data:image/png;base64,") == len(out.figures) >= 3
    for name in out.figures:
        for ext in ("png", "pdf"):
            assert (tmp_path / "supp" / "tables" / "figures" / f"{name}.{ext}").stat().st_size > 0
    assert "Holm" in page and "Held-out selection" in page


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


def _with(df: pd.DataFrame, **changes) -> pd.DataFrame:
    df = df.copy()
    for col, value in changes.items():
        df[col] = value
    return df


def test_degenerate_rows_are_never_best_and_their_share_is_shown():
    df = fake_results(conditions=("clean",), methods=("saliency", "gradcam", "lime"), n_clips=20)
    df["degenerate"] = False
    # gradcam's minmax masks are mostly constant: it would win every metric, but cannot
    hit = (df["method"] == "gradcam") & (df["mask"] == "minmax")
    df.loc[hit & (df["id"].str[-1].astype(int) % 2 == 0), "degenerate"] = True
    t = metric_table(
        prepare_results(df), block=("model", "condition", "mask"), row="method", n_resamples=50
    )
    cells = t.cells[t.cells["mask"] == "minmax"]
    g = cells[cells["method"] == "gradcam"]
    assert (g["degenerate"] > 0.4).all() and not g["best"].any() and not g["eligible"].any()
    best = cells[cells["best"]]
    assert set(best["metric"]) == set(METRICS) and set(best["method"]) <= {"saliency", "lime"}
    text, _, _ = tablefmt.format_table(t)
    assert "degenerate" in text.columns and "50%" in set(text["degenerate"])
    # and the summary never picks that mask for gradcam
    chosen = paper_tables(prepare_results(df), n_resamples=20)["summary"].cells
    assert "minmax" not in set(chosen.loc[chosen["method"] == "gradcam", "mask"])


def test_holm_correction_and_baseline_marks():
    df = fake_results(conditions=("clean",), methods=("saliency", "gradcam", "lime", "shap"))
    df["method"] = df["method"].replace({"lime": "energy", "shap": "random"})
    t = metric_table(
        prepare_results(df),
        block=("model", "condition", "mask"),
        row="method",
        n_resamples=50,
        baselines=("energy", "random"),
    )
    c = t.cells
    for col in ("p_value", "p_holm", "p_vs_energy", "p_vs_energy_holm", "beats_random"):
        assert col in c.columns
    tested = c["p_value"].notna()
    assert (c.loc[tested, "p_holm"] >= c.loc[tested, "p_value"]).all()
    np.testing.assert_array_equal(c["significant"], c["p_holm"] < 0.05)
    # one family per table: every raw p-value of the table corrected together
    from audiointerp.experiments.reporting.stats import holm

    raw = np.concatenate([c[k].to_numpy() for k in ("p_value", "p_vs_energy", "p_vs_random")])
    adj = np.concatenate(
        [c[k].to_numpy() for k in ("p_holm", "p_vs_energy_holm", "p_vs_random_holm")]
    )
    np.testing.assert_allclose(holm(raw), adj, equal_nan=True)
    g = c[c["method"] == "gradcam"]
    assert g["beats_energy"].all() and g["beats_random"].all()  # planted: far better
    s = c[c["method"] == "saliency"]
    assert s["beats_energy"].mean() <= 0.15  # same distribution as "energy": not better
    assert c.loc[c["method"] == "energy", "p_vs_energy"].isna().all()
    text, _, _ = tablefmt.format_table(t)
    assert text.loc[("mel", "clean", "minmax", "gradcam")].str.contains(r"\+E \+R").all()


def test_undefined_values_are_excluded_and_counted():
    df = fake_results(conditions=("clean",), methods=("saliency", "gradcam"))
    empty = (df["method"] == "gradcam") & (df["mask"] == "minmax") & (df["id"] == "clip-3")
    df.loc[empty, ["SPS", "COMP"]] = np.nan  # an empty mask: undefined, not 0
    t = metric_table(
        prepare_results(df), block=("model", "condition", "mask"), row="method", n_resamples=50
    )
    c = t.cells.set_index(["mask", "method", "metric"])
    assert c.loc[("minmax", "gradcam", "COMP"), "n"] == 11
    assert c.loc[("minmax", "gradcam", "COMP"), "n_undefined"] == 1
    assert c.loc[("minmax", "gradcam", "FF"), "n"] == 12
    want = df.loc[(df["method"] == "gradcam") & (df["mask"] == "minmax"), "COMP"].mean()
    assert c.loc[("minmax", "gradcam", "COMP"), "mean"] == pytest.approx(want)  # NaN skipped
    text, _, _ = tablefmt.format_table(t)
    assert text.loc[("mel", "clean", "minmax", "gradcam"), "COMP (nats) ↓"].endswith("(n=11)")


def test_summary_selects_masks_on_held_out_clips():
    df = prepare_results(fake_results(n_clips=20, conditions=("clean",)))
    held = paper_tables(df, n_resamples=20)["summary"]
    assert held.notes[0].startswith("Held-out selection")
    assert set(held.cells["n"]) == {10}  # reported on the other half of the 20 clips
    same = paper_tables(df, n_resamples=20, selection="same")["summary"]
    assert same.notes[0].startswith("Exploratory") and set(same.cells["n"]) == {20}
    with pytest.raises(ParameterError, match="selection"):
        paper_tables(df, selection="both")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: pd.concat([d, d.iloc[:2]]), "share their key"),
        (lambda d: _with(d, correct=["maybe"] + [True] * (len(d) - 1)), "true/false"),
        (lambda d: _with(d, FF=["abc"] + list(d["FF"].iloc[1:])), "must be numeric"),
        (lambda d: _with(d, COMP=[np.inf] + list(d["COMP"].iloc[1:])), "infinite"),
        (lambda d: _with(d, correct=~d["correct"]), "disagreeing with label"),
    ],
)
def test_tables_refuse_what_they_cannot_trust(tmp_path, change, message):
    df = change(fake_results(conditions=("clean",), methods=("saliency",)))
    df.to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(DatasetError, match=message):
        load_results(tmp_path / "results.csv")


def test_rows_of_different_grids_are_separated_or_refused(tmp_path):
    import json

    mel = fake_results(conditions=("clean",), methods=("saliency",))
    stft = mel.assign(model="stft")
    (tmp_path / "results.csv").write_text(
        pd.concat([mel, stft]).to_csv(index=False), encoding="utf-8"
    )
    config = {"seed": 0, "data": {"n_clips": 12}, "models": {"mel": "a"}, "name": "a"}
    for fp, part, cfg in (("aaa", mel, config), ("bbb", stft, {**config, "models": {"stft": "b"}})):
        run = tmp_path / "runs" / fp
        (run / "units").mkdir(parents=True)
        part.to_csv(run / "results.csv", index=False)
        (run / "manifest.json").write_text(json.dumps({"config": cfg}))
    loaded = load_results(tmp_path)  # differ only in models: one table
    assert set(loaded["grid"]) == {"aaa", "bbb"}
    (tmp_path / "runs" / "bbb" / "manifest.json").write_text(
        json.dumps({"config": {**config, "seed": 1}})
    )
    with pytest.raises(DatasetError, match="seed"):
        load_results(tmp_path)
    only = load_results(tmp_path, grid="bbb")
    assert set(only["model"]) == {"stft"}


def test_progress_is_one_line_per_step_off_a_terminal(tmp_path, capsys):
    fake_results(conditions=("clean",)).to_csv(tmp_path / "results.csv", index=False)
    out = write_tables(tmp_path, tmp_path / "s", n_resamples=10, plots=False)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("tables: ")]
    assert len(lines) == len(out.seconds) and lines[0].startswith("tables: 1/")
    assert "read results" in lines[0] and not any("\r" in x for x in lines)
    write_tables(tmp_path, tmp_path / "s", n_resamples=10, plots=False, progress=False)
    assert "tables: " not in capsys.readouterr().err


def test_curves_are_tabulated_and_plotted(tmp_path):
    from audiointerp import faithfulness as fa

    df = fake_results(conditions=("clean",), methods=("saliency", "gradcam"), n_clips=6)
    rng = np.random.default_rng(0)
    for fill in fa.FILLS:
        for direction in fa.DIRECTIONS:
            cols = fa.column_names(fill, direction, 4)
            k = np.linspace(0, 1, 5)
            curve = 1 - k if direction == "deletion" else k
            for col, v in zip(cols, curve, strict=True):
                df[col] = v + rng.normal(0, 0.01, len(df))
            df[f"{direction}_{fill}"] = fa.curve_auc(df[cols].to_numpy())
    df.to_csv(tmp_path / "results.csv", index=False)
    out = write_tables(tmp_path, tmp_path / "s", n_resamples=20, progress=False)
    curves = pd.read_csv(tmp_path / "s" / "tables" / "curves.csv")
    assert set(curves["curve"]) == {"deletion_floor", "insertion_floor", "deletion_road",
                                    "insertion_road"}  # fmt: skip
    d = curves[(curves["curve"] == "deletion_floor") & (curves["method"] == "saliency")]
    assert d["mean"].is_monotonic_decreasing and len(d) == 5
    assert "curves" in out.figures
    faith = out.tables["faithfulness"]
    assert set(faith.metrics) >= {"deletion_floor", "insertion_road"}


def test_curves_not_computed_for_a_condition_are_said_not_averaged(tmp_path):
    from audiointerp import faithfulness as fa

    df = fake_results(conditions=("clean", "white"), methods=("saliency", "gradcam"), n_clips=6)
    cols = fa.column_names("floor", "deletion", 4)
    clean = (df["condition"] == "clean").to_numpy()
    for col, v in zip(cols, np.linspace(1, 0, 5), strict=True):
        df[col] = np.where(clean, v, np.nan)  # curve_conditions: [clean]
    df["deletion_floor"] = np.where(clean, fa.curve_auc(df[cols].fillna(0).to_numpy()), np.nan)
    df.to_csv(tmp_path / "results.csv", index=False)
    out = write_tables(tmp_path, tmp_path / "s", n_resamples=20, plots=False, progress=False)
    curves = pd.read_csv(tmp_path / "s" / "tables" / "curves.csv")
    assert set(curves["condition"]) == {"clean"}
    cells = out.tables["faithfulness"].cells
    white = cells[(cells["condition"] == "white") & (cells["metric"] == "deletion_floor")]
    assert (white["n"] == 0).all() and white["mean"].isna().all() and not white["best"].any()
    page = (tmp_path / "s" / "tables.html").read_text()
    assert "curves were not computed for white" in page


def test_notes_state_map_resolutions_and_the_cascade_is_plotted(tmp_path):
    import json

    fake_results(conditions=("clean",)).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "manifest.json").write_text(
        json.dumps({"resolution": {"mel": {"saliency": [64, 313], "lime": None}}})
    )
    (tmp_path / "mel").mkdir()
    pd.DataFrame(
        {"model": "mel", "method": "saliency", "step": [1, 2, 3], "layer": ["fc", "c2", "c1"],
         "n_clips": 20, "rho_mean": [0.8, 0.4, 0.1], "rho_low": [0.7, 0.3, 0.05],
         "rho_high": [0.9, 0.5, 0.2], "rho_median": [0.8, 0.4, 0.1]}
    ).to_csv(tmp_path / "mel" / "cascade.csv", index=False)  # fmt: skip
    out = write_tables(tmp_path, tmp_path / "s", n_resamples=10, progress=False)
    page = out.html.read_text()
    assert (
        "Effective map resolution on mel (freq x time): saliency: 64 x 313, lime: adaptive" in page
    )
    assert "sanity_cascade" in out.figures


def test_heatmap_cells_are_the_per_method_means(tmp_path):
    """Each heatmap panel shows the per-method table's means, methods x masks, in the order of
    the edge labels (which name every panel's rows and columns)."""
    from audiointerp.experiments.reporting import plots

    fake_results(conditions=("clean",), models=("mel", "stft")).to_csv(
        tmp_path / "results.csv", index=False
    )
    out = write_tables(tmp_path, tmp_path / "s", n_resamples=10, plots=False, progress=False)
    table = out.tables["per_method"]
    fig = plots.heatmaps(table, condition="clean", max_degenerate=0.05)
    panels = [ax for ax in fig.axes if ax.get_title()]  # colour bars have no title
    assert len(panels) == 2 * len(table.metrics)
    first = panels[len(table.metrics)]  # stft, first metric: labelled on both edges
    rows = [t.get_text() for t in first.get_yticklabels()]
    cols = [t.get_text() for t in first.get_xticklabels()]
    cells = table.cells[
        (table.cells["model"] == "stft") & (table.cells["metric"] == table.metrics[0])
    ]
    want = cells.pivot(index="method", columns="mask", values="mean").loc[rows, cols].to_numpy()
    shown = np.ma.filled(first.images[0].get_array(), np.nan)
    np.testing.assert_allclose(shown, want)
    assert first.get_title() == f"stft: {plots._label(table.metrics[0])}"


def test_the_runs_manifest_names_the_baselines(tmp_path):
    """A run's manifest records its reference methods (config names, aliases included); the
    tables read them there instead of asking the method classes."""
    import json

    fake_results(conditions=("clean",)).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "manifest.json").write_text(
        json.dumps({"references": {"lime": "input", "gradcam": "ideal"}})
    )
    out = write_tables(tmp_path, tmp_path / "s", n_resamples=10, plots=False, progress=False)
    table = out.tables["per_mask"]
    assert table.baselines == ("lime",)  # an "ideal" reference is no baseline to beat
    cells = table.cells
    assert "p_vs_lime_holm" in cells.columns and "p_vs_energy" not in cells.columns
    # gradcam is planted far better than lime: it beats the baseline where it is tested
    grad = cells[(cells["method"] == "gradcam") & (cells["metric"] == "FF")]
    assert grad["beats_lime"].all()


def test_workers_write_the_files_of_one_process(tmp_path, monkeypatch):
    """Tables and figures computed in worker processes give the files computed in this
    process, byte for byte (the figures: the same PNG pixels), and the page lists the figures
    in its own order whichever finished first."""
    from audiointerp.experiments.reporting import workers

    fake_results(conditions=("clean", "white"), models=("mel", "stft")).to_csv(
        tmp_path / "results.csv", index=False
    )
    pool = workers.Workers(None)
    assert pool._pool is not None, "this test needs two CPUs (Linux) to run the workers"
    pool.close()
    parallel = write_tables(tmp_path, tmp_path / "a", n_resamples=50, progress=False)
    monkeypatch.setattr(workers, "_cpus", lambda: 1)  # no workers: everything inline
    inline = write_tables(tmp_path, tmp_path / "b", n_resamples=50, progress=False)
    names = sorted(p.relative_to(tmp_path / "a").as_posix() for p in parallel.files)
    assert names == sorted(p.relative_to(tmp_path / "b").as_posix() for p in inline.files)
    for name in names:
        a, b = tmp_path / "a" / name, tmp_path / "b" / name
        if name.endswith(".pdf"):  # creation dates differ
            assert a.stat().st_size > 1000 and b.stat().st_size > 1000
        elif name.endswith(".html"):
            n = len(parallel.figures)
            assert a.read_text().count("<figure>") == b.read_text().count("<figure>") == n
        else:
            assert a.read_bytes() == b.read_bytes(), name
    # no curves, no cascade in these results: three figures, in the page's order
    assert list(parallel.figures) == list(inline.figures) == [
        "accuracy", "summary_by_condition", "heatmaps"
    ]  # fmt: skip


def test_the_tables_step_imports_neither_torch_nor_the_data_packages(tmp_path):
    """Reading results and writing the tables needs pandas, SciPy's statistics and matplotlib:
    torch and scipy.signal (the data packages) took 2-3 s of the step's import time. (A run's
    manifest names its baselines; without one, the method classes are asked, which imports
    them.)"""
    import json
    import subprocess
    import sys

    fake_results(conditions=("clean",)).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "manifest.json").write_text(json.dumps({"references": {"lime": "input"}}))
    code = (
        "import sys\n"
        "from audiointerp.cli import main\n"
        f"assert main(['tables', '--results', {str(tmp_path)!r}, '--out', "
        f"{str(tmp_path / 's')!r}, '--no-plots', '--no-progress', '--n-resamples', '10']) == 0\n"
        "heavy = sorted(m for m in ('torch', 'scipy.signal', 'audiointerp.data') "
        "if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "heavy: []" in out.stdout, out.stdout + out.stderr


def test_a_significance_level_outside_zero_one_is_refused(tmp_path):
    """alpha = 2 would mark every tested row significant; it is refused, from the workers too."""
    fake_results(conditions=("clean",)).to_csv(tmp_path / "results.csv", index=False)
    for alpha in (0.0, 2.0):
        with pytest.raises(ParameterError, match="alpha must be in"):
            write_tables(tmp_path, tmp_path / "s", n_resamples=10, alpha=alpha, progress=False)
