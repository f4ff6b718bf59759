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
    assert df[list(METRIC_COLUMNS)].notna().all().all()
    # stems exist: ground-truth metrics are filled, including under added noise
    assert df[["loc_auc", "relevance_mass", "si_sdr", "si_sdri"]].notna().all().all()
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
