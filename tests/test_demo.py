"""`audiointerp demo` end to end on the tiny setup: grid, tables, illustration, report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from experiment_fixtures import session_setup

from audiointerp import cli


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return session_setup(tmp_path_factory)


def test_demo_command_writes_every_output_and_reports_them(tiny, tmp_path, capsys):
    out, supp = tmp_path / "results", tmp_path / "supplementary"
    over = tiny.overrides(out, conditions=["clean"], sanity_clips=0, sanity_methods=[])
    over["methods"] = {"saliency": {}, "gradcam": {}}
    del over["output"], over["data.root"]
    argv = ["demo", "--data", str(tiny.data), "--out", str(out), "--supplementary", str(supp)]
    argv += ["--no-progress"]
    for key, value in over.items():
        argv += ["--set", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"]
    assert cli.main(argv) == 0

    table = pd.read_csv(out / "results.csv")
    # 2 models x 1 condition x 2 methods x 5 masks x 4 clips, no duplicates.
    assert len(table) == 2 * 2 * 5 * 4
    assert not table.duplicated(["model", "condition", "method", "mask", "id"]).any()
    assert (supp / "tables.html").is_file()
    page = (supp / "illustration" / "listen.html").read_text()
    assert "data:audio/flac;base64," in page
    # the listening page explains its clip exactly as the grid's rows do
    shown = pd.read_csv(supp / "illustration" / "mel" / "metrics.csv")
    rows = table[(table["model"] == "mel") & (table["id"] == shown["clip"].iloc[0])]
    merged = shown.merge(rows, on=["method", "mask"], suffixes=("_page", ""))
    assert len(merged) == len(shown) == 2 * 2  # methods x the default masks the grid scored
    for col in ("p", "p_in", "p_out", "FF", "AD", "SPS", "COMP", "loc_auc", "si_sdr"):
        assert (merged[f"{col}_page"] - merged[col]).abs().max() < 1e-6, col
    report = json.loads((out / "manifest.json").read_text())["demo"]
    assert report["wall_s"] > 0 and report["peak_rss_mb"] > 0
    printed = capsys.readouterr().out
    assert "SNR range" in printed and "listening page" in printed
