"""Result store: atomic unit files, exact round trips, grid-order combination, paper layout."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.grid import store as store_mod
from audiointerp.experiments.grid.store import ResultStore, UnitKey, atomic_write_bytes, read_csv


def _rows(model="mel", condition="clean", method="saliency", ids=("a", "b"), masks=("bin",)):
    rng = np.random.default_rng(len(ids))
    out = []
    for mask in masks:
        for i in ids:
            out.append(
                {
                    "model": model,
                    "condition": condition,
                    "method": method,
                    "mask": mask,
                    "id": i,
                    "label": 1,
                    "category": "dog",
                    "prediction": 1,
                    "correct": True,
                    "p": rng.random(),
                    "p_in": 1 / 3,
                    "p_out": rng.random() * 1e-9,
                    "FF": 0.1,
                    "AI": 100.0,
                    "AD": 0.0,
                    "AG": 12.5,
                    "FidIn": 1.0,
                    "SPS": 0.3,
                    "COMP": 7.25,
                }
            )
    return pd.DataFrame(out)


def test_unit_round_trip_is_exact_and_ids_stay_strings(tmp_path):
    st = ResultStore(tmp_path, "abc")
    key = UnitKey("mel", "clean", "saliency", 0)
    rows = _rows(ids=("1-100032-A-0", "007"))
    st.write_unit(key, rows)
    back = st.read_unit(key)
    pd.testing.assert_frame_equal(back, rows, check_exact=True)
    assert back["id"].tolist() == ["1-100032-A-0", "007"]
    assert st.unit_path(key) == tmp_path / "runs/abc/units/mel/clean/saliency/batch_00000.csv"


def test_atomic_write_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    atomic_write_bytes(path, b"old")

    def boom(src, dst):
        raise OSError("disk full")

    import audiointerp.files as files_mod

    monkeypatch.setattr(files_mod.os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"], "temporary file left behind"


def test_clean_temporaries_removes_leftovers_of_a_killed_write(tmp_path):
    st = ResultStore(tmp_path, "abc")
    leftover = st.units_dir / "mel" / ".batch_00000.csv.1234.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("half a ro")
    assert st.clean_temporaries() == 1
    assert not leftover.exists()


def test_combine_follows_grid_order_and_rejects_missing_or_duplicated_units(tmp_path):
    st = ResultStore(tmp_path, "abc")
    keys = [UnitKey("mel", "clean", m, b) for m in ("saliency", "gradcam") for b in (0, 1)]
    for k in reversed(keys):  # written out of order, combined in grid order
        st.write_unit(k, _rows(method=k.method, ids=(f"c{k.batch}a", f"c{k.batch}b")))
    df = st.combine(keys)
    assert df["method"].tolist() == ["saliency"] * 4 + ["gradcam"] * 4
    assert df["id"].tolist()[:4] == ["c0a", "c0b", "c1a", "c1b"]
    with pytest.raises(AudioInterpError, match="missing"):
        st.combine([*keys, UnitKey("mel", "clean", "lime", 0)])
    st.write_unit(UnitKey("mel", "clean", "saliency", 9), _rows(ids=("c0a",)))
    with pytest.raises(AudioInterpError, match="duplicated"):
        st.combine([*keys, UnitKey("mel", "clean", "saliency", 9)])


def _grid(root, fingerprint, df):
    st = ResultStore(root, fingerprint)
    st.write_unit(UnitKey("mel", "clean", "saliency", 0), df)  # a grid has units
    st.write_tables(df.reset_index(drop=True))
    return st


def test_write_tables_paper_layout(tmp_path):
    st = ResultStore(tmp_path, "abc")
    st.write_unit(UnitKey("mel", "clean", "saliency", 0), _rows())
    df = pd.concat([_rows(masks=("bin", "topK_5")), _rows(method="lime", condition="white")])
    paths = st.write_tables(df.reset_index(drop=True))
    assert tmp_path / "results.csv" in paths
    csv = tmp_path / "mel" / "saliency_clean" / "csvs" / "topK_5.csv"
    assert csv in paths and (tmp_path / "mel" / "lime_white" / "csvs" / "bin.csv").is_file()
    part = read_csv(csv)
    assert part.columns[0] == "id" and "model" not in part.columns
    assert list(part.columns) == list(store_mod.MASK_CSV_COLUMNS)
    assert len(part) == 2
    pd.testing.assert_frame_equal(read_csv(tmp_path / "results.csv"), df.reset_index(drop=True))


def test_attributions_saved_with_ids(tmp_path):
    st = ResultStore(tmp_path, "abc")
    key = UnitKey("stft", "room", "gradcam", 3)
    a = np.random.default_rng(0).standard_normal((2, 1, 5, 7)).astype(np.float32)
    st.write_attributions(key, ["x", "y"], a)
    path = tmp_path / "stft" / "gradcam_room" / "attributions" / "batch_00003.npz"
    with np.load(path) as z:
        assert z["ids"].tolist() == ["x", "y"]
        np.testing.assert_allclose(z["attributions"], a, rtol=1e-3, atol=1e-3)
    assert not any(p.name.endswith(".tmp") for p in path.parent.iterdir())
    assert os.path.getsize(path) > 0


def test_root_table_merges_grids_newest_block_wins(tmp_path):
    old = _rows(method="saliency", ids=("a", "b", "c"))
    _grid(tmp_path, "old", pd.concat([old, _rows(method="lime")]))
    new = _rows(method="saliency", ids=("a",))
    new["FF"] = 0.9
    _grid(tmp_path, "new", new)
    root = read_csv(tmp_path / "results.csv")
    sal = root[root["method"] == "saliency"]
    assert sal["id"].tolist() == ["a"] and sal["FF"].tolist() == [0.9]
    assert (root["method"] == "lime").sum() == 2  # blocks only the old grid covered are kept


def test_root_table_ignores_folders_that_are_not_grids(tmp_path):
    _grid(tmp_path, "grid", _rows())
    other = tmp_path / "runs" / "default_mel" / "results.csv"  # e.g. a training run folder
    other.parent.mkdir(parents=True)
    other.write_text("epoch,loss\n1,0.5\n")
    assert len(read_csv(tmp_path / "results.csv")) == 2
    ResultStore(tmp_path, "grid").write_tables(_rows())
    assert list(read_csv(tmp_path / "results.csv").columns) == list(_rows().columns)
