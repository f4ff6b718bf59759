"""The one explain-and-score core: every entry point gives the grid's numbers for a clip, the
fingerprint follows file contents, and a new method or model family is one class + one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from experiment_fixtures import session_setup
from torch import nn

from audiointerp.config import save_yaml
from audiointerp.errors import CheckpointError, ParameterError
from audiointerp.experiments.grid.config import load_experiment
from audiointerp.experiments.grid.runner import run_experiment

METRICS = ("p", "p_in", "p_out", "FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP")
GT = ("loc_auc", "relevance_mass", "si_sdr", "si_sdri")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return session_setup(tmp_path_factory)


@pytest.fixture(scope="module")
def grid(tiny, tmp_path_factory):
    """A small grid with the four methods whose inputs differ most between entry points."""
    out = tmp_path_factory.mktemp("grid")
    over = tiny.overrides(
        out / "results",
        models={"mel": tiny.models["mel"]},
        conditions=["white"],  # a noisy condition: every view must apply it the same way
        methods={
            "gradcam": {},
            "shap": {"background_per_class": 1},
            "slice": {"n_freq": 2, "n_time": 3},
            "lime": {"n_samples": 12, "batch_size": 5, "segmentation": "grid"},
        },
        masks=["minmax", "bin", "topK_30", "pos_thresh_50"],
    )
    cfg = load_experiment(None, over)
    path = out / "grid.yaml"
    save_yaml(cfg, path)
    table = run_experiment(cfg, progress=False).table
    return cfg, path, table


def _grid_rows(table: pd.DataFrame, clip: str, method: str) -> pd.DataFrame:
    rows = table[(table["id"] == clip) & (table["method"] == method)]
    return rows.set_index("mask")


# The views score one mask per call and the grid all of a clip's masks in one pass: the
# model's float32 output depends on a pass's batch size at ~1e-7 (oneDNN picks its kernels by
# shape, and by CPU), so probabilities agree to 1e-6 and the percentages derived from them to
# that error carried through their denominators (AD divides by p, AG by 1 - p).
P_TOL = 1e-6


def _tolerance(expected: pd.Series, col: str) -> float:
    p = float(expected["p"])
    if col == "AD":
        return 100 * 2 * P_TOL / max(p, 1e-3)
    if col == "AG":
        return 100 * 2 * P_TOL / max(1 - p, 1e-3)
    return P_TOL


def _assert_row_equal(expected: pd.Series, got: dict, cols=METRICS + GT) -> None:
    for col in cols:
        want = float(expected[col])
        if np.isnan(want):  # undefined (SPS/COMP of an empty mask): NaN or None (JSON) too
            assert got[col] is None or np.isnan(got[col]), col
            continue
        tol = _tolerance(expected, col)
        assert got[col] == pytest.approx(want, abs=tol, rel=1e-6), col


def test_interpret_explorer_and_illustration_give_the_grids_numbers(grid, tmp_path):
    from audiointerp.cli import main
    from audiointerp.experiments.interactive.explorer import ExplorerSession
    from audiointerp.experiments.interactive.illustrate import illustrate_clip

    cfg, path, table = grid
    clip = sorted(table["id"].unique())[1]
    masks = list(cfg.masks)
    out = tmp_path / "interpret"
    code = main(
        [
            "interpret",
            "--config",
            str(path),
            "--clip",
            clip,
            "--method",
            *cfg.methods,
            "--masks",
            *masks,
            "--out",
            str(out),
        ]  # fmt: skip
    )
    assert code == 0
    explorer = ExplorerSession.from_experiment(cfg, "mel")
    explorer.pick("by name", name=clip)
    ill = illustrate_clip(clip, config=cfg, out_dir=tmp_path / "ill", masks=masks, dpi=30)
    shown = ill.models["mel"].explanations
    page = ill.html.read_text()
    for method in cfg.methods:
        expected = _grid_rows(table, clip, method)
        report = json.loads((out / method / "metrics.json").read_text())
        assert report["condition"] == "white" and list(report["masks"]) == masks
        for mask in masks:
            _assert_row_equal(expected.loc[mask], report["masks"][mask])
            _assert_row_equal(expected.loc[mask], shown[method][mask].metrics)
            ex = explorer.explain(method, mask)
            _assert_row_equal(expected.loc[mask], ex.metrics)
        assert f"p_in {shown[method][masks[0]].metrics['p_in']:.3g}" in page


def test_a_clip_gives_the_same_rows_alone_as_in_its_unit(tiny, grid):
    """Batch invariance of the core itself: bit-identical rows for one clip or its whole unit."""
    from audiointerp.experiments.core import explain_batch
    from audiointerp.experiments.grid.session import ExperimentSession

    cfg, _, _ = grid
    session = ExperimentSession(cfg)
    clf = session.classifiers["mel"]
    unit = session.unit_clips("mel", 0)
    whole = session.batch("mel", "white", unit)
    alone = session.batch("mel", "white", unit[1:2])
    for name, method in session.methods("mel").items():
        kw = dict(model=clf.model, frontend=clf.frontend, method_name=name, masks=cfg.masks, seed=0)
        a = explain_batch(whole, method, **kw).rows
        b = explain_batch(alone, method, **kw).rows
        a = a[a["id"] == alone.ids[0]].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_checkpoint_changed_in_place_is_not_resumed(tiny, tmp_path):
    from audiointerp.models import load_classifier, save_classifier

    ckpt = tmp_path / "model.pt"
    clf = load_classifier(tiny.models["mel"], device="cpu")
    save_classifier(ckpt, clf.model, model_config=clf.config, frontend_config=clf.frontend.config,
                    classes=clf.classes)  # fmt: skip
    over = tiny.overrides(
        tmp_path / "out", models={"mel": str(ckpt)}, conditions=["clean"], methods={"saliency": {}}
    )
    first = run_experiment(load_experiment(None, over), progress=False)
    with torch.no_grad():  # retrain "in place": same path, other weights
        for p in clf.model.parameters():
            p.mul_(0.5).add_(0.01)
    save_classifier(ckpt, clf.model, model_config=clf.config, frontend_config=clf.frontend.config,
                    classes=clf.classes)  # fmt: skip
    second = run_experiment(load_experiment(None, over), progress=False)
    assert second.manifest["fingerprint"] != first.manifest["fingerprint"]
    assert second.manifest["sessions"][-1]["units_computed"] > 0  # recomputed, not resumed
    assert (
        second.manifest["contents"]["models"]["mel"] != first.manifest["contents"]["models"]["mel"]
    )
    assert not np.allclose(first.table["p_in"], second.table["p_in"])
    again = run_experiment(load_experiment(None, over), progress=False)
    assert again.manifest["sessions"][-1]["units_computed"] == 0  # same contents: resumed


class Throwaway:
    """A method that exists only in this test: one class and one registry line."""


def test_a_new_method_is_one_class_and_one_registry_line(tiny, tmp_path):
    from audiointerp.interpretation import AttributionMethod, register_method
    from audiointerp.interpretation.registry import _REGISTRY

    class Energy(AttributionMethod):
        name = "throwaway_energy"

        def _attribute(self, model, features, target):
            return features - features.amin(dim=(2, 3), keepdim=True)

    register_method("throwaway_energy", Energy)  # the one line
    try:
        over = tiny.overrides(
            tmp_path / "out",
            models={"mel": tiny.models["mel"]},
            conditions=["clean"],
            methods={"throwaway_energy": {}, "saliency": {}},
        )
        table = run_experiment(load_experiment(None, over), progress=False).table
        assert set(table["method"]) == {"throwaway_energy", "saliency"}
        assert table[list(METRICS)].notna().all().all()
        from audiointerp.experiments.reporting.resultsio import prepare_results

        order = list(prepare_results(table)["method"].cat.categories)
        assert order == ["saliency", "throwaway_energy"]  # registry order, not appearance
    finally:
        _REGISTRY.pop("throwaway_energy")


def test_a_new_model_family_is_one_module_and_one_registry_line(tmp_path):
    from dataclasses import dataclass

    from audiointerp.interpretation import get_method
    from audiointerp.models import (
        AudioClassifier,
        ModelConfig,
        build_model,
        load_classifier,
        register_model,
        save_classifier,
    )
    from audiointerp.models.registry import _REGISTRY, ModelFamily
    from audiointerp.processing import FrontendConfig

    @dataclass
    class TinyConfig(ModelConfig):
        hidden: int = 8

    class Tiny(AudioClassifier):
        def __init__(self, cfg, *, num_classes, num_bins):
            super().__init__()
            self.num_classes, self.num_bins = num_classes, num_bins
            self.conv = nn.Conv2d(1, cfg.hidden, 3, padding=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(cfg.hidden, num_classes)
            self.gradcam_layer = "conv"

        def forward(self, x):
            return self.fc(self.relu(self.conv(x)).mean(dim=(2, 3)))

    register_model("tiny_test", ModelFamily(TinyConfig, Tiny))  # the one line
    try:
        model = build_model("tiny_test", num_classes=3, num_bins=16, hidden=4).eval()
        assert model.capabilities == {"gradcam"}
        fc = FrontendConfig(kind="mel", n_mels=16)
        path = save_classifier(tmp_path / "t.pt", model, model_config=TinyConfig("tiny_test", hidden=4),
                               frontend_config=fc, classes=["a", "b", "c"])  # fmt: skip
        back = load_classifier(path, device="cpu")
        assert back.config == TinyConfig("tiny_test", hidden=4) and back.sha256
        x = torch.randn(2, 1, 16, 20)
        assert get_method("gradcam").attribute(back.model, x).shape == x.shape
        with pytest.raises(ParameterError, match="hidden feature maps"):
            back.model.hidden(x)
    finally:
        _REGISTRY.pop("tiny_test")


def test_checkpoints_refuse_unknown_model_keys(tiny, tmp_path):
    from audiointerp.models.checkpoints import load_classifier, read_checkpoint

    obj = read_checkpoint(tiny.models["mel"])
    obj["model"]["widht"] = 0.5  # a typo must not be dropped silently
    torch.save(obj, tmp_path / "typo.pt")
    with pytest.raises(CheckpointError, match="widht"):
        load_classifier(tmp_path / "typo.pt")
    obj["model"] = "cnn6"
    torch.save(obj, tmp_path / "string.pt")
    with pytest.raises(CheckpointError, match="not a mapping"):
        load_classifier(tmp_path / "string.pt")


def test_methods_declare_what_they_need(tiny):
    from audiointerp.experiments.core import method_context
    from audiointerp.interpretation import build_method, method_class
    from audiointerp.models import load_classifier

    clf = load_classifier(tiny.models["mel"], device="cpu")
    assert method_class("lime").stochastic and not method_class("saliency").stochastic
    assert method_class("slice").explains_region and method_class("shap").needs_training_data
    bare = method_context(clf.model, clf.frontend)
    shap = build_method("shap", {"background_per_class": 1}, bare)
    assert shap.background is None and any("silence floor" in n for n in bare.notes)
    from audiointerp.data.config import DataConfig

    data = DataConfig(root=str(tiny.data), duration_s=1.0, train_folds=(2,), valid_folds=(3,),
                      test_folds=(1,))  # fmt: skip
    ctx = method_context(clf.model, clf.frontend, data=data)
    shap = build_method("shap", {"background_per_class": 1}, ctx)
    assert shap.background.shape[0] == len(clf.classes) and not ctx.notes
    fill = build_method("slice", {}, ctx).fill
    assert fill == pytest.approx(ctx.feature_mean())
    assert build_method("slice", {"fill": "floor"}, ctx).fill == clf.frontend.floor_db
    with pytest.raises(ParameterError, match="fill"):
        build_method("slice", {"fill": "median"}, ctx)


def test_methods_a_model_or_data_cannot_serve_are_left_out_with_a_note(tiny, tmp_path):
    from audiointerp.interpretation import AttributionMethod, register_method
    from audiointerp.interpretation.registry import _REGISTRY

    class NeedsAttention(AttributionMethod):
        name = "throwaway_attention"
        model_kinds = frozenset({"transformer"})

    class Truth(AttributionMethod):
        name = "throwaway_truth"
        needs_ground_truth = True

        def explain(self, model, features, target=None, *, ground_truth=None):
            from audiointerp.interpretation import Explanation

            return Explanation(ground_truth.float())

    register_method("throwaway_attention", NeedsAttention)
    register_method("throwaway_truth", Truth)
    try:
        over = tiny.overrides(
            tmp_path / "out",
            models={"mel": tiny.models["mel"]},
            conditions=["clean"],
            methods={"throwaway_attention": {}, "throwaway_truth": {}, "saliency": {}},
        )
        res = run_experiment(load_experiment(None, over), progress=False)
        assert set(res.table["method"]) == {"throwaway_truth", "saliency"}
        (skip,) = res.manifest["skipped"]
        assert skip["method"] == "throwaway_attention" and "transformer" in skip["reason"]
        truth = res.table[(res.table["method"] == "throwaway_truth") & (res.table["mask"] == "bin")]
        assert (truth["loc_auc"] == 1.0).all()  # the ideal mask localizes itself perfectly
    finally:
        _REGISTRY.pop("throwaway_attention")
        _REGISTRY.pop("throwaway_truth")
