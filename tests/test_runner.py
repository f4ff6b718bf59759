"""Experiment runner: grid layout, resume after SIGKILL, determinism, batched evaluation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from experiment_fixtures import session_setup

from audiointerp.config import parse_overrides, save_yaml
from audiointerp.errors import ParameterError
from audiointerp.experiments.core.scoring import evaluate_masks, evaluate_masks_naive, predict_probs
from audiointerp.experiments.grid.config import load_experiment
from audiointerp.experiments.grid.runner import KILL_AFTER_UNITS_ENV, run_experiment, select_clips
from audiointerp.experiments.grid.store import METRIC_COLUMNS, read_csv
from audiointerp.files import TEMP_SUFFIX

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny(tmp_path_factory):
    return session_setup(tmp_path_factory)


def test_grid_completes_and_writes_the_paper_layout(tiny, tmp_path):
    cfg = load_experiment(None, tiny.overrides(tmp_path / "out"))
    res = run_experiment(cfg, progress=False)
    df = res.table
    n_masks, n_clips = len(cfg.masks), 4
    assert len(df) == 2 * 2 * 3 * n_masks * n_clips  # models x conditions x methods x masks x clips
    assert not df.duplicated(["model", "condition", "method", "mask", "id"]).any()
    # every metric is defined, except SPS/COMP of an empty mask (flagged degenerate)
    defined = [c for c in METRIC_COLUMNS if c not in ("SPS", "COMP")]
    assert df[defined].notna().all().all()
    undefined = df["SPS"].isna() | df["COMP"].isna()
    assert df.loc[undefined, "degenerate"].all() and (df.loc[undefined, "mask_std"] == 0).all()
    # stems exist: ground-truth metrics are filled, including under added noise
    assert df[["loc_auc", "si_sdr", "si_sdri"]].notna().all().all()
    assert df["relevance_mass"].dropna().between(0, 1).all()
    assert ((df["loc_auc"] >= 0) & (df["loc_auc"] <= 1)).all()
    out = tmp_path / "out"
    for model in ("mel", "stft"):
        for method in ("saliency", "gradcam", "lime"):
            for cond in ("clean", "white"):
                folder = out / model / f"{method}_{cond}"
                assert sorted(p.stem for p in (folder / "csvs").glob("*.csv")) == sorted(cfg.masks)
                assert len(list((folder / "attributions").glob("batch_*.npz"))) == 2
    per_mask = read_csv(out / "mel" / "lime_white" / "csvs" / "bin.csv")
    sel = df[
        (df.model == "mel")
        & (df.method == "lime")
        & (df.condition == "white")
        & (df["mask"] == "bin")
    ]
    np.testing.assert_array_equal(per_mask["FF"].to_numpy(), sel["FF"].to_numpy())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["versions"]["torch"] == torch.__version__
    session = manifest["sessions"][-1]
    assert session["peak_rss_mb"] > 0 and session["stage_s"]["attribute_lime"] > 0
    assert session["counts"]["masked_forwards"] <= session["counts"]["masked_variants"]
    # same seed, same rows; a second call finds every unit and recomputes nothing
    again = run_experiment(cfg, progress=False)
    assert again.manifest["sessions"][-1]["units_computed"] == 0
    pd.testing.assert_frame_equal(again.table, df)


def test_resume_after_sigkill_equals_uninterrupted_run(tiny, tmp_path):
    over = tiny.overrides(
        tmp_path / "unused",
        models={"mel": tiny.models["mel"]},
        methods={"saliency": {}, "lime": {"n_samples": 8, "segmentation": "grid"}},
    )
    cfg = load_experiment(None, over)
    cfg_path = tmp_path / "grid.yaml"
    save_yaml(cfg, cfg_path)
    cmd = [
        sys.executable,
        "-m",
        "audiointerp",
        "run",
        "--config",
        str(cfg_path),
        "--out",
        str(tmp_path / "resumed"),
        "--no-progress",
    ]
    env = {**os.environ, KILL_AFTER_UNITS_ENV: "3", "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    units = list((tmp_path / "resumed" / "runs").rglob("batch_*.csv"))
    assert len(units) == 3 and not (tmp_path / "resumed" / "results.csv").exists()
    env.pop(KILL_AFTER_UNITS_ENV)
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resumed = read_csv(tmp_path / "resumed" / "results.csv")

    straight = run_experiment(
        load_experiment(cfg_path, {"output": str(tmp_path / "straight")}), progress=False
    ).table
    assert len(resumed) == len(straight) == 2 * 2 * 5 * 4
    assert not resumed.duplicated(["model", "condition", "method", "mask", "id"]).any()
    pd.testing.assert_frame_equal(resumed, straight)
    for csv in (tmp_path / "straight").glob("mel/*/csvs/*.csv"):
        rel = csv.relative_to(tmp_path / "straight")
        pd.testing.assert_frame_equal(read_csv(tmp_path / "resumed" / rel), read_csv(csv))
    manifest = json.loads((tmp_path / "resumed" / "manifest.json").read_text())
    assert [s["units_computed"] for s in manifest["sessions"]] == [5]
    assert not list((tmp_path / "resumed").rglob(f"*{TEMP_SUFFIX}"))


def test_stochastic_methods_are_seeded_per_clip_not_per_batch(tiny, tmp_path):
    over = dict(
        models={"mel": tiny.models["mel"]},
        conditions=["clean"],
        methods={"lime": {"n_samples": 8, "segmentation": "grid"}},
        masks=["minmax", "topK_30"],
    )
    a = run_experiment(
        load_experiment(None, tiny.overrides(tmp_path / "a", clips_per_unit=4, **over)),
        progress=False,
    ).table
    b = run_experiment(
        load_experiment(None, tiny.overrides(tmp_path / "b", clips_per_unit=1, **over)),
        progress=False,
    ).table
    keys = ["model", "condition", "method", "mask", "id"]  # row order follows the batching
    pd.testing.assert_frame_equal(  # bit for bit: a clip's rows never depend on its unit
        a.sort_values(keys, ignore_index=True),
        b.sort_values(keys, ignore_index=True),
        check_exact=True,
    )
    c = run_experiment(
        load_experiment(None, tiny.overrides(tmp_path / "c", seed=7, **over)), progress=False
    ).table
    assert not np.allclose(a["SPS"], c["SPS"])  # another seed draws other LIME samples


def test_batched_masked_evaluation_equals_one_pass_per_variant():
    from audiointerp.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn6", num_classes=4, num_bins=16, width=0.125).eval()
    x = torch.randn(3, 1, 16, 24) * 10 - 40
    m1 = (torch.rand(3, 1, 16, 24) > 0.5).float()
    masks = {
        "a": m1,
        "b": m1.clone(),
        "c": torch.rand(3, 1, 16, 24),
        "ones": torch.ones_like(m1),
        "zeros": torch.zeros_like(m1),
    }
    probs = predict_probs(model, x, 8)
    fast, counts = evaluate_masks(model, x, probs, masks, base=-100.0, batch_size=5)
    slow = evaluate_masks_naive(model, x, masks, base=-100.0)
    for name in masks:
        torch.testing.assert_close(fast[name].p_in, slow[name].p_in, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fast[name].p_out, slow[name].p_out, rtol=1e-5, atol=1e-6)
    # "b" repeats "a"; "ones" in = x and out = floor; "zeros" mirrors it: per clip (variants are
    # grouped by clip, so a clip's numbers never depend on its batch) 2 x 2 unique + its floor
    assert counts == {"variants": 2 * 3 * 5, "evaluated": 3 * (2 * 2 + 1)}


def test_distinct_inputs_share_a_row_only_when_equal():
    from audiointerp.experiments.core.scoring import _Distinct

    own = torch.randn(1, 20, 50)  # 1000 bins: the key samples every third one
    other = own.clone()
    other[0, 0, 1] += 1.0  # equal to the input on every sampled bin, not equal
    same = own.clone()
    d = _Distinct(own)
    assert d.index(torch.stack([other, same, other, torch.zeros_like(own)])) == [0, -1, 0, 1]
    assert len(d.rows) == 2 and torch.equal(d.rows[0], other)
    assert d.index(torch.stack([own]), [True]) == [-1]  # a full mask: the input by definition


def test_select_clips_is_class_balanced_seeded_and_nested():
    labels = np.repeat(np.arange(5), [10, 10, 10, 3, 10])
    six = select_clips(labels, 6, seed=0)
    assert len(six) == 6 and len(np.unique(labels[six])) == 5
    ten = select_clips(labels, 10, seed=0)
    assert set(six) <= set(ten) and np.bincount(labels[ten], minlength=5).tolist() == [2] * 5
    assert not np.array_equal(select_clips(labels, 10, seed=1), ten)
    assert len(select_clips(labels, None, seed=0)) == len(labels)


def test_overrides_and_config_errors(tmp_path):
    over = parse_overrides(
        ["data.n_clips=8", "conditions=[clean, room]", "methods.lime.n_samples=50"]
    )
    assert over == {
        "data.n_clips": 8,
        "conditions": ["clean", "room"],
        "methods.lime.n_samples": 50,
    }
    cfg = load_experiment(None, {**over, "methods": {"lime": {"n_samples": 50}}})
    assert cfg.data.n_clips == 8 and cfg.conditions == ("clean", "room")
    with pytest.raises(ParameterError, match="key=value"):
        parse_overrides(["n_clips"])
    with pytest.raises(ParameterError, match="unknown key"):
        load_experiment(None, {"data.n_clip": 3})
    assert load_experiment(None, {"seed": 1}).fingerprint() != load_experiment(None).fingerprint()
    assert (
        load_experiment(None, {"output": "x"}).fingerprint() == load_experiment(None).fingerprint()
    )


def test_sanity_files_schema_and_verdicts(tmp_path):
    """Grid sanity: sanity.csv per method, cascade.csv per step, the plot; oracle skipped."""
    from audiointerp.experiments.grid.sanity import (
        CASCADE_COLUMNS,
        SANITY_COLUMNS,
        cascade_path,
        plot_path,
        run_sanity,
        sanity_path,
    )
    from audiointerp.interpretation import get_method
    from audiointerp.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn6", num_classes=3, num_bins=16, width=0.125).eval()
    x = torch.randn(20, 1, 16, 24, generator=torch.Generator().manual_seed(0)) * 10 - 50
    methods = {n: get_method(n) for n in ("saliency", "energy", "random", "oracle")}
    ids = [f"clip{i}" for i in range(20)]
    df = run_sanity("m", model, x, methods, output=tmp_path, ids=ids, seed=0)
    assert list(df.columns) == list(SANITY_COLUMNS)
    status = dict(zip(df["method"], df["status"], strict=True))
    assert status == {"saliency": "pass", "energy": "fail", "random": "fail", "oracle": "skipped"}
    assert (df["n_clips"] == 20).all()
    cascade = pd.read_csv(cascade_path(tmp_path, "m"))
    assert list(cascade.columns) == list(CASCADE_COLUMNS)
    n_layers = int(df.loc[df["method"] == "saliency", "n_layers"].iloc[0])
    assert len(cascade) == 3 * n_layers  # oracle has no curve
    sal = cascade[cascade["method"] == "saliency"].sort_values("step")
    assert sal["layer"].iloc[0] == "fc_out" and sal["step"].tolist() == list(range(1, n_layers + 1))
    assert (sal["rho_low"] <= sal["rho_mean"]).all() and (sal["rho_mean"] <= sal["rho_high"]).all()
    assert plot_path(tmp_path, "m").stat().st_size > 1000
    # read back, not recomputed
    assert run_sanity("m", model, x, {}, output=tmp_path).equals(
        pd.read_csv(sanity_path(tmp_path, "m"))
    )


def test_reference_methods_aliases_and_resolutions_in_the_grid(tiny, tmp_path):
    over = tiny.overrides(
        tmp_path / "out",
        conditions=["clean"],
        methods={
            "saliency": {},
            "saliency_abs": {"method": "saliency", "abs": True},
            "gradcam": {},
            "lime": {"n_samples": 8, "batch_size": 8, "segmentation": "grid"},
            "random": {},
            "energy": {},
            "oracle": {},
        },
        masks=["minmax", "bin"],
        sanity_clips=4,
        sanity_methods=["saliency_abs", "energy", "oracle"],
    )
    res = run_experiment(load_experiment(None, over), progress=False)
    df = res.table
    assert set(df["method"]) == set(over["methods"])
    sanity = pd.read_csv(tmp_path / "out" / "mel" / "sanity.csv")
    assert dict(zip(sanity["method"], sanity["status"], strict=True))["oracle"] == "skipped"
    assert (sanity["n_clips"] == 4).all()
    assert (tmp_path / "out" / "stft" / "cascade.csv").is_file()
    assert (tmp_path / "out" / "stft" / "sanity.png").is_file()
    oracle = df[df["method"] == "oracle"]
    assert set(oracle["mask"]) == {"minmax", "bin", "native"}  # the ideal mask itself
    native = oracle[oracle["mask"] == "native"]
    assert (native["loc_auc"] == 1.0).all() and native["FidIn"].between(0, 1).all()
    rand = df[(df["method"] == "random") & (df["mask"] == "minmax")]
    assert rand["loc_auc"].between(0.3, 0.7).all()  # chance
    # the alias is saliency's magnitude: its bin mask keeps every non-zero gradient
    sal_abs = df[(df["method"] == "saliency_abs") & (df["mask"] == "bin")]
    sal = df[(df["method"] == "saliency") & (df["mask"] == "bin")]
    assert (sal_abs["SPS"].to_numpy() <= sal["SPS"].to_numpy() + 1e-9).all()
    # effective map resolution per model and method: [n_freq, n_time]
    grid = res.manifest["resolution"]
    assert set(grid) == {"mel", "stft"}
    mel = grid["mel"]
    assert mel["lime"] == [4, 8] and mel["random"] == mel["energy"] == mel["oracle"]
    assert mel["saliency"] == mel["saliency_abs"] and mel["saliency"][1] == mel["oracle"][1]
    assert mel["gradcam"][0] < mel["saliency"][0] and mel["gradcam"][1] < mel["saliency"][1]
    assert res.manifest["methods"]["mel"]["methods"]["saliency_abs"]["abs"] is True
    assert res.manifest["references"] == {"random": "chance", "energy": "input", "oracle": "ideal"}


def test_sanity_of_another_grid_is_recomputed_not_read_back(tmp_path):
    """A sanity.csv written for another key (other grid, weights or methods, or a committed
    summary without a key) is recomputed; the same key reads it back."""
    from audiointerp.experiments.grid.sanity import run_sanity, sanity_done, sanity_path
    from audiointerp.interpretation import get_method
    from audiointerp.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn6", num_classes=3, num_bins=16, width=0.125).eval()
    x = torch.randn(4, 1, 16, 24, generator=torch.Generator().manual_seed(0)) * 10 - 50
    stale = pd.DataFrame([{"model": "m", "method": "shap", "n_clips": 2, "status": "pass"}])
    sanity_path(tmp_path, "m").parent.mkdir(parents=True)
    stale.to_csv(sanity_path(tmp_path, "m"), index=False)
    assert sanity_done(tmp_path, "m", None) and not sanity_done(tmp_path, "m", "grid-a")
    df = run_sanity(
        "m", model, x, {"saliency": get_method("saliency")}, output=tmp_path, key="grid-a"
    )
    assert df["method"].tolist() == ["saliency"] and (df["n_clips"] == 4).all()
    assert sanity_done(tmp_path, "m", "grid-a") and not sanity_done(tmp_path, "m", "grid-b")
    again = run_sanity("m", model, x, {}, output=tmp_path, key="grid-a")  # read back
    assert again["method"].tolist() == ["saliency"]
    other = run_sanity(
        "m", model, x, {"energy": get_method("energy")}, output=tmp_path, key="grid-b"
    )
    assert other["method"].tolist() == ["energy"]
