"""Tests for audiointerp.data.datasets and layouts, on fixtures in the official formats."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from audiointerp.data import open_dataset
from audiointerp.data.layouts import detect_layout
from audiointerp.errors import DatasetError, ParameterError
from tests.conftest import ESC50_CLASSES


def _append_rows(csv_path, rows):
    with open(csv_path, "a", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_esc50_layout_classes_from_target_category_pairs(esc50_factory):
    root = esc50_factory()
    ds = open_dataset(root)
    assert detect_layout(root) == "esc50" and ds.layout == "esc50"
    # Class list ordered by ESC-50 target, labels are indices into it.
    assert ds.classes == ["dog", "chirping_birds", "chainsaw"]
    assert len(ds) == 15 and ds.skipped == [] and not ds.has_stems
    for clip in ds.clips:
        assert ds.classes[clip.label] == clip.category
        assert clip.meta["target"] == dict((c, t) for t, c in ESC50_CLASSES)[clip.category]
        assert clip.id == clip.path.stem and clip.fold == int(clip.id.split("-")[0])
    wave, label, cid = ds[0]
    assert wave.shape == (80000,) and wave.dtype == np.float32 and np.max(np.abs(wave)) == 1.0
    assert isinstance(label, int) and cid == ds.clips[0].id


def test_esc50_folds_esc10_and_subset(esc50_factory):
    root = esc50_factory()
    train = open_dataset(root, folds=[1, 2, 3])
    test = open_dataset(root, folds=5)
    assert {c.fold for c in train.clips} == {1, 2, 3} and {c.fold for c in test.clips} == {5}
    assert train.classes == test.classes  # the class list never depends on the folds chosen
    esc10 = open_dataset(root, esc10=True)
    assert esc10.classes == ["dog"] and all(c.label == 0 for c in esc10.clips)
    ds = open_dataset(root)
    sub = ds.subset(folds=[2], categories=["chainsaw"])
    assert len(sub) == 1 and sub.clips[0].category == "chainsaw" and sub.classes == ds.classes
    assert sub.clips[0].label == 2
    with pytest.raises(DatasetError, match="folds present"):
        open_dataset(root, folds=[9])
    with pytest.raises(ParameterError):
        ds.subset(categories=["unicorn"])


def test_load_batch_and_helpers(esc50_factory):
    ds = open_dataset(esc50_factory(), sr=8000, duration_s=1.0)
    waves, labels, ids = ds.load_batch([3, 0, 7])
    assert waves.shape == (3, 8000) and labels.dtype == np.int64 and len(ids) == 3
    np.testing.assert_array_equal(waves[1], ds[0][0])
    i = ds.random_clip(np.random.default_rng(0), category="dog")
    assert ds.clips[i].category == "dog"
    assert ds.random_clip(1) == ds.random_clip(1)
    name = ds.clips[4].path.name
    assert ds.index_of(name) == 4 and ds.index_of(ds.clips[4].id) == 4
    assert ds.index_of(f"/elsewhere/{name}") == 4
    with pytest.raises(ParameterError, match="did you mean"):
        ds.index_of(ds.clips[4].id[:-1] + "9")
    with pytest.raises(DatasetError, match="no stems"):
        ds.load_stems(0)


def test_metadata_problems_raise_or_skip(esc50_factory, tmp_path):
    root = esc50_factory()
    outside = tmp_path / "secret.wav"
    sf.write(str(outside), np.ones(100) * 0.1, 16000)
    _append_rows(
        root / "meta" / "esc50.csv",
        [
            ["../../secret.wav", 1, 0, "dog", False, "x.ogg", "A"],  # escapes the root
            ["1-999999-A-0.wav", 1, 0, "dog", False, "x.ogg", "A"],  # file missing
        ],
    )
    (root / "audio" / "1-888888-A-0.wav").write_bytes(b"")  # empty file
    _append_rows(root / "meta" / "esc50.csv", [["1-888888-A-0.wav", 1, 0, "dog", False, "", "A"]])
    with pytest.raises(DatasetError, match="3 unusable") as err:
        open_dataset(root)
    assert "outside the data root" in str(err.value) and "on_error='skip'" in str(err.value)
    ds = open_dataset(root, on_error="skip")
    assert len(ds) == 15 and len(ds.skipped) == 3
    reasons = " | ".join(r for _, r in ds.skipped)
    assert "outside the data root" in reasons and "not found" in reasons and "empty" in reasons


def test_label_outside_class_list(esc50_factory):
    root = esc50_factory()
    with pytest.raises(DatasetError, match="not in the class list"):
        open_dataset(root, classes=["dog", "chainsaw"])
    ds = open_dataset(root, classes=["dog", "chainsaw"], on_error="skip")
    assert ds.classes == ["dog", "chainsaw"] and len(ds.skipped) == 5
    assert {c.category: c.label for c in ds.clips} == {"dog": 0, "chainsaw": 1}


def test_inconsistent_target_category_pairs_are_an_error(esc50_factory):
    root = esc50_factory()
    _append_rows(root / "meta" / "esc50.csv", [["1-1-A-0.wav", 1, 0, "cat", False, "", "A"]])
    with pytest.raises(DatasetError, match="disagree"):
        open_dataset(root, on_error="skip")


def test_nan_file_found_by_full_check(esc50_factory):
    root = esc50_factory()
    victim = sorted((root / "audio").iterdir())[0]
    y = np.zeros(1000)
    y[5] = np.nan
    sf.write(str(victim), y, 44100, subtype="FLOAT")
    assert len(open_dataset(root).clips) == 15  # header check cannot see sample values
    ds = open_dataset(root, check="full", on_error="skip")
    assert len(ds) == 14 and "NaN" in ds.skipped[0][1]


def _write_us8k(root, tone):
    classes = {3: "dog_bark", 0: "air_conditioner", 8: "siren"}
    rows = []
    formats = [(44100, 2, "PCM_16", 4.0), (48000, 1, "PCM_24", 0.7), (22050, 1, "FLOAT", 2.5)]
    for fold in (10, 1, 4):
        for k, (cid, name) in enumerate(classes.items()):
            sr, ch, sub, sec = formats[(fold + k) % 3]
            fname = f"{1000 + fold * 10 + k}-{cid}-0-{k}.wav"
            tone(
                root / "audio" / f"fold{fold}" / fname, sr=sr, seconds=sec, channels=ch, subtype=sub
            )
            rows.append([fname, 1000 + fold * 10 + k, 0.0, sec, 1, fold, cid, name])
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
        )
        w.writerows(rows)
    return root


def test_urbansound8k_layout(tmp_path, tone):
    root = _write_us8k(tmp_path / "UrbanSound8K", tone)
    ds = open_dataset(root)
    assert ds.layout == "urbansound8k" and ds.classes == ["air_conditioner", "dog_bark", "siren"]
    assert len(ds) == 9 and {c.fold for c in ds.clips} == {1, 4, 10}
    waves, labels, _ = ds.load_batch(range(len(ds)))
    assert waves.shape == (9, 80000) and np.allclose(np.abs(waves).max(axis=1), 1.0)
    assert len(open_dataset(root, folds=[10])) == 3
    with pytest.raises(DatasetError, match="ESC-50 layout"):
        open_dataset(root, esc10=True)
    native = open_dataset(root, duration_s=None)
    assert len({native[i][0].shape for i in range(len(native))}) == 3


def test_folder_and_manifest_layouts(tmp_path, tone):
    root = tmp_path / "mine"
    tone(root / "cats" / "a.wav")
    tone(root / "cats" / "sub" / "b.flac", sr=22050)
    tone(root / "dogs" / "a.wav", channels=2)
    (root / "dogs" / "notes.txt").write_text("not audio, ignored")
    ds = open_dataset(root)
    assert ds.layout == "folder" and ds.classes == ["cats", "dogs"] and len(ds) == 3
    # Two files share the stem "a": ids fall back to relative paths and stay unique.
    assert sorted(c.id for c in ds.clips) == ["cats/a", "cats/sub/b", "dogs/a"]
    assert ds.clips[ds.index_of("dogs/a")].category == "dogs"

    man = tmp_path / "list.csv"
    man.write_text(
        "path,label,fold\nmine/cats/a.wav,cats,1\nmine/dogs/a.wav,dogs,2\n../x.wav,dogs,1\n"
    )
    with pytest.raises(DatasetError, match="outside"):
        open_dataset(man)
    mds = open_dataset(man, on_error="skip")
    assert mds.layout == "manifest" and [c.fold for c in mds.clips] == [1, 2]
    assert len(mds.skipped) == 1


def test_undetectable_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="cannot tell the layout"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(ParameterError, match="on_error"):
        open_dataset(tmp_path / "empty", on_error="ignore")
