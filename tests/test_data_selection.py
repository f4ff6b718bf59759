"""Own data without workarounds: class-stratified, grouped, seeded splits; class selection;
loud warnings for splits too small per class."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

from audiointerp.data import open_dataset
from audiointerp.data.config import DataConfig, SplitConfig
from audiointerp.data.selection import (
    open_splits,
    select_classes,
    split_warnings,
    stratified_assignment,
)
from audiointerp.errors import DatasetError, ParameterError
from audiointerp.models.splits import load_splits

CLASSES = ["dog", "rain", "siren"]


def write_folder(root: Path, *, per_class: int = 10, per_source: int = 2, folds=None) -> Path:
    """ESC-50 layout, 8 kHz 0.25 s tones; ``per_source`` clips share a ``src_file``; rows in a
    scrambled order; ``folds`` maps a clip number to its fold (default: all fold 1)."""
    rows = []
    for target, cat in enumerate(CLASSES):
        for j in range(per_class):
            name = f"{j % 5 + 1}-{target}{j:03d}-A-{target}.wav"
            write_tone(root / "audio" / name, sr=8000, seconds=0.25, freq=300 + 200 * target)
            fold = folds(target, j) if folds else 1
            rows.append([name, fold, target, cat, False, f"{cat}{j // per_source}.ogg", "A"])
    rows = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root


def test_stratified_split_keeps_groups_together_and_is_seeded(tmp_path):
    root = write_folder(tmp_path / "a")
    cfg = DataConfig(root=str(root), duration_s=0.25, split={"valid": 0.2, "test": 0.2,
                                                             "group_by": "src_file"})  # fmt: skip
    splits = open_splits(cfg, sr=8000)
    ids = {name: {c.id for c in ds.clips} for name, ds in splits.items()}
    assert sum(len(v) for v in ids.values()) == 30 and not (ids["train"] & ids["test"])
    for name, ds in splits.items():
        counts = {c: sum(k.category == c for k in ds.clips) for c in CLASSES}
        assert counts == {c: {"train": 6, "valid": 2, "test": 2}[name] for c in CLASSES}
        sources = {c.meta["src_file"] for c in ds.clips}
        for other, ods in splits.items():
            if other != name:  # a source recording never straddles two splits
                assert not sources & {c.meta["src_file"] for c in ods.clips}
    # the same split at another sample rate, and from the same files listed in another order
    again = open_splits(cfg, sr=16000)
    assert {n: {c.id for c in d.clips} for n, d in again.items()} == ids
    ds = open_dataset(root, sr=8000, duration_s=0.25)
    reordered = list(reversed(ds.clips))
    codes = stratified_assignment(reordered, cfg.split)
    assert {c.id for c, k in zip(reordered, codes, strict=True) if k == 2} == ids["test"]
    other = stratified_assignment(ds.clips, SplitConfig(0.2, 0.2, "src_file", seed=5))
    assert {c.id for c, k in zip(ds.clips, other, strict=True) if k == 2} != ids["test"]
    # every split keeps the full class list, so labels agree across splits
    assert all(d.classes == CLASSES for d in splits.values())


def test_split_options_are_checked(tmp_path):
    for bad in ({"valid": 0.0}, {"test": 1.2}, {"valid": 0.6, "test": 0.5}, {"valid": "x"}):
        with pytest.raises(ParameterError, match="data.split"):
            DataConfig(split=bad)
    root = write_folder(tmp_path / "a")
    cfg = DataConfig(root=str(root), duration_s=0.25, split={"group_by": "recording"})
    with pytest.raises(DatasetError, match="group_by='recording'.*src_file"):
        open_splits(cfg, sr=8000)
    with pytest.raises(ParameterError, match="twice"):
        DataConfig(classes=["dog", "dog"])


def test_class_selection_renumbers_in_the_given_order(tmp_path):
    root = write_folder(tmp_path / "a", per_class=2)
    ds = select_classes(open_dataset(root, sr=8000, duration_s=0.25), ["siren", "dog"])
    assert ds.classes == ["siren", "dog"] and len(ds) == 4
    assert {(c.category, c.label) for c in ds.clips} == {("siren", 0), ("dog", 1)}
    with pytest.raises(DatasetError, match="did you mean siren"):
        select_classes(ds, ["sirne"])


def test_uneven_folds_are_reported_loudly_and_a_stratified_split_fixes_them(tmp_path, caplog):
    # the real subset: folds {4: 400, 2: 11, 5: 2, 3: 1}, here scaled down
    def fold(target, j):
        return 4 if j < 7 else (2, 5, 3)[j - 7]

    root = write_folder(tmp_path / "uneven", folds=fold)
    cfg = DataConfig(root=str(root), duration_s=0.25, train_folds=(4, 2), valid_folds=(3,),
                     test_folds=(5,))  # fmt: skip
    with caplog.at_level(logging.WARNING):
        splits = load_splits(cfg, sr=8000)
    assert len(splits.warnings) == 2  # validation and test, not training
    valid = next(w for w in splits.warnings if "valid split" in w)
    assert "folds [3]" in valid and "3 clip(s)" in valid and "fewer than 2" in valid
    assert "data.split" in valid and valid in caplog.text
    fixed = DataConfig(root=str(root), duration_s=0.25, split={"valid": 0.2, "test": 0.2})
    splits = load_splits(fixed, sr=8000)
    assert splits.warnings == [] and (len(splits.valid), len(splits.test)) == (6, 6)
    assert split_warnings(open_splits(fixed, sr=8000), fixed) == []


def test_the_grid_explains_the_test_split_and_draws_context_from_the_train_split(tmp_path):
    """With data.split, the grid's clips and the methods' training data follow the split."""
    import torch

    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.session import ExperimentSession
    from audiointerp.models import build_model, save_classifier
    from audiointerp.processing import FrontendConfig

    root = write_folder(tmp_path / "a")
    fc = FrontendConfig(kind="mel", sr=8000, n_fft=256, win_length=256, hop_length=128,
                        n_mels=16, fmin=50.0, fmax=4000.0)  # fmt: skip
    torch.manual_seed(0)
    model = build_model("cnn6", num_classes=3, num_bins=fc.n_bins, width=1 / 16)
    weights = save_classifier(tmp_path / "m.pt", model, model_config={"arch": "cnn6",
                              "width": 1 / 16}, frontend_config=fc, classes=CLASSES)  # fmt: skip
    split = {"valid": 0.2, "test": 0.2, "group_by": "src_file"}
    cfg = load_experiment(None, {"models": {"m": str(weights)}, "data.root": str(root),
                                 "data.duration_s": 0.25, "data.split": split,
                                 "conditions": ["clean"], "methods": {"slice": {}}})  # fmt: skip
    session = ExperimentSession(cfg)
    expected = open_splits(cfg.data, sr=8000)
    assert set(session.clip_ids("m")) == {c.id for c in expected["test"].clips}
    training = session.context("m").training
    from audiointerp.experiments.core.context import balanced_indices

    train = expected["train"]
    waves, _, _ = train.load_batch(balanced_indices(train.labels, 1, seed=cfg.seed))
    frontend = session.classifiers["m"].frontend
    with torch.inference_mode():
        want = frontend.features(torch.from_numpy(waves))
    torch.testing.assert_close(training.features(1), want)  # drawn from the train split
    assert "stratified split" in training.description


def test_the_run_fingerprint_follows_the_split_not_the_warning_threshold():
    from audiointerp.experiments.grid.config import load_experiment

    base = load_experiment(None, {}).fingerprint()
    assert load_experiment(None, {"data.min_per_class": 5}).fingerprint() == base
    assert load_experiment(None, {"data.split": {"valid": 0.1}}).fingerprint() != base
    assert load_experiment(None, {"data.classes": ["siren"]}).fingerprint() != base
