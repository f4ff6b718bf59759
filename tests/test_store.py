"""Result store: atomic unit files with completion records, verification, canonical units,
the paper layout, temporaries that are only the store's, umask, locks, safe names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from audiointerp import files as files_mod
from audiointerp.errors import AudioInterpError, ParameterError
from audiointerp.experiments.grid import store as store_mod
from audiointerp.experiments.grid.lock import LockHeldError, RunLock, lock_is_held
from audiointerp.experiments.grid.merge import write_grid_tables
from audiointerp.experiments.grid.store import DamagedUnitError, ResultStore, read_csv
from audiointerp.experiments.grid.units import GridPlan, ShardSpec, Unit, canonical_units
from audiointerp.files import (
    TEMP_SUFFIX,
    atomic_write_bytes,
    check_path_name,
    is_stale_temporary,
    remove_stale_temporaries,
)


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


def _unit(method="saliency", batch=0, ids=("a", "b"), condition="clean", grid="abc"):
    return Unit(grid, "mel", condition, method, batch, tuple(ids))


def _write(st: ResultStore, unit: Unit, masks=("bin",)) -> pd.DataFrame:
    rows = _rows(method=unit.method, condition=unit.condition, ids=unit.clips, masks=masks)
    st.write_unit(unit, rows)
    return rows


def test_unit_round_trip_is_exact_and_ids_stay_strings(tmp_path):
    st = ResultStore(tmp_path, "abc")
    unit = _unit(ids=("1-100032-A-0", "007"))
    rows = _write(st, unit)
    back = st.read_unit(unit)
    pd.testing.assert_frame_equal(back, rows, check_exact=True)
    assert back["id"].tolist() == ["1-100032-A-0", "007"]
    assert st.unit_path(unit) == tmp_path / "runs/abc/units/mel/clean/saliency/batch_00000.csv"
    record = json.loads(st.record_path(unit).read_text())
    assert record["unit"] == unit.key and record["rows"] == 2
    assert record["bytes"] == st.unit_path(unit).stat().st_size
    assert st.check_unit(unit).status == "complete"


def test_unit_keys_are_stable_digests_of_the_canonical_description():
    a = Unit("g", "mel", "clean", "lime", 3, ("x", "y"))
    assert a.key == Unit("g", "mel", "clean", "lime", 3, ("x", "y")).key
    assert len(a.key) == 64 and int(a.key, 16) >= 0  # SHA-256 hex, not hash()
    # same key in another interpreter (hash() is salted per process)
    code = (
        "from audiointerp.experiments.grid.units import Unit;"
        "print(Unit('g', 'mel', 'clean', 'lime', 3, ('x', 'y')).key)"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.stdout.strip() == a.key
    for changed in (
        Unit("h", "mel", "clean", "lime", 3, ("x", "y")),
        Unit("g", "stft", "clean", "lime", 3, ("x", "y")),
        Unit("g", "mel", "white", "lime", 3, ("x", "y")),
        Unit("g", "mel", "clean", "shap", 3, ("x", "y")),
        Unit("g", "mel", "clean", "lime", 4, ("x", "y")),
        Unit("g", "mel", "clean", "lime", 3, ("x", "z")),
    ):
        assert changed.key != a.key
    assert Unit.from_dict(a.to_dict()) == a
    with pytest.raises(ParameterError, match="key does not match"):
        Unit.from_dict({**a.to_dict(), "clips": ["x"]})


def test_canonical_order_ignores_how_the_config_lists_things_and_shards_partition_it():
    batches = {"mel": [["a", "b"], ["c"]], "stft": [["a", "b"], ["c"]]}
    blocks = [
        (m, c, k) for m in ("stft", "mel") for c in ("white", "clean") for k in ("lime", "gradcam")
    ]
    units = canonical_units("g", blocks, batches)
    again = canonical_units("g", list(reversed(blocks)), batches)
    assert [u.key for u in units] == [u.key for u in again]
    assert [u.name for u in units[:3]] == [
        "mel/clean/gradcam/batch_00000",
        "mel/clean/gradcam/batch_00001",
        "mel/clean/lime/batch_00000",
    ]
    for n in (1, 2, 3, 5, 16, 17):
        parts = [ShardSpec(i, n).select(units) for i in range(n)]
        flat = [u.key for p in parts for u in p]
        assert sorted(flat) == sorted(u.key for u in units) and len(flat) == len(units)
    assert ShardSpec.parse("2/3") == ShardSpec(2, 3)
    for bad in ("3/3", "-1/3", "1", "a/b", "0/0"):
        with pytest.raises(ParameterError, match="shard"):
            ShardSpec.parse(bad)


def test_plan_round_trip_and_difference():
    units = canonical_units("g", [("mel", "clean", "lime")], {"mel": [["a"], ["b"]]})
    plan = GridPlan("g", "demo", units)
    back = GridPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back.digest == plan.digest and back.difference(plan) is None
    other = GridPlan(
        "g", "demo", canonical_units("g", [("mel", "clean", "lime")], {"mel": [["a"], ["c"]]})
    )
    assert "explains clips" in other.difference(plan)
    edited = plan.to_dict()
    edited["units"] = edited["units"][:1]
    with pytest.raises(ParameterError, match="edited"):
        GridPlan.from_dict(edited)


@pytest.mark.parametrize("damage", ["cut in half", "header only", "zero bytes", "record gone",
                                    "rows gone", "record garbage", "edited value"])  # fmt: skip
def test_damaged_units_are_named_never_read(tmp_path, damage):
    st = ResultStore(tmp_path, "abc")
    unit = _unit(ids=tuple("abcdefgh"))
    _write(st, unit, masks=("bin", "minmax"))
    path, record = st.unit_path(unit), st.record_path(unit)
    data = path.read_bytes()
    if damage == "cut in half":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "header only":
        path.write_bytes(data.split(b"\n", 1)[0] + b"\n")
    elif damage == "zero bytes":
        path.write_bytes(b"")
    elif damage == "record gone":
        record.unlink()
    elif damage == "rows gone":
        path.unlink()
    elif damage == "record garbage":
        record.write_text("{not json")
    else:
        path.write_bytes(data.replace(b"0.1,", b"0.2,", 1))
    state = st.check_unit(unit)
    assert state.status == ("partial" if damage == "record gone" else "damaged"), state
    with pytest.raises(DamagedUnitError, match="batch_00000"):
        st.read_unit(unit)
    with pytest.raises(DamagedUnitError):
        st.combine([unit])


def test_a_record_of_another_unit_description_is_not_complete(tmp_path):
    st = ResultStore(tmp_path, "abc")
    old = _unit(ids=("a", "b"))
    _write(st, old)
    new = _unit(ids=("a", "c"))  # same address, other clips (e.g. other data)
    assert st.check_unit(new).status == "damaged"
    assert "another unit" in st.check_unit(new).reason


def test_atomic_write_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    atomic_write_bytes(path, b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files_mod.os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"], "temporary file left behind"


def test_results_files_get_the_users_umask_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.csv", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.csv").stat().st_mode & 0o777 == 0o640
    old = os.umask(0o002)
    try:
        ResultStore(tmp_path, "abc").write_unit(_unit(), _rows())
    finally:
        os.umask(old)
    assert (
        tmp_path / "runs/abc/units/mel/clean/saliency/batch_00000.csv"
    ).stat().st_mode & 0o777 == 0o664


def test_only_the_stores_stale_temporaries_are_cleaned(tmp_path):
    st = ResultStore(tmp_path, "abc")
    host = files_mod.host_name()
    folder = st.units_dir / "mel" / "clean" / "saliency"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / f".batch_00000.csv~{host}~{dead.pid}~0a1b2c3d{TEMP_SUFFIX}"
    live = folder / f".batch_00001.csv~{host}~{os.getpid()}~0a1b2c3d{TEMP_SUFFIX}"
    remote = folder / f".batch_00002.csv~othernode~{dead.pid}~0a1b2c3d{TEMP_SUFFIX}"
    users = [tmp_path / "notes" / ".draft.md.tmp", folder / ".batch_00003.csv.1234.tmp",
             st.run_dir / "notes.txt"]  # fmt: skip
    for p in (stale, live, remote, *users):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("half a ro")
    assert is_stale_temporary(stale) and not is_stale_temporary(live)
    assert not is_stale_temporary(remote)  # another host's write: only once it is old
    assert st.clean_temporaries() == 1
    assert not stale.exists() and live.exists() and remote.exists()
    assert all(p.exists() for p in users)
    old = os.path.getmtime(remote) - files_mod.STALE_TEMP_AGE_S - 60
    os.utime(remote, (old, old))
    assert remove_stale_temporaries(folder) == [remote]


def test_combine_follows_the_given_order_and_rejects_missing_or_duplicated_units(tmp_path):
    st = ResultStore(tmp_path, "abc")
    units = [_unit(m, b, ids=(f"c{b}a", f"c{b}b")) for m in ("saliency", "gradcam") for b in (0, 1)]
    for u in reversed(units):  # written out of order, combined in the given order
        _write(st, u)
    df = st.combine(units)
    assert df["method"].tolist() == ["saliency"] * 4 + ["gradcam"] * 4
    assert df["id"].tolist()[:4] == ["c0a", "c0b", "c1a", "c1b"]
    with pytest.raises(DamagedUnitError, match="missing"):
        st.combine([*units, _unit("lime", 0)])
    twin = _unit("saliency", 9, ids=("c0a",))
    _write(st, twin)
    with pytest.raises(DamagedUnitError, match="duplicated"):
        st.combine([*units, twin])


def test_stray_unit_files_are_found(tmp_path):
    st = ResultStore(tmp_path, "abc")
    unit = _unit()
    _write(st, unit)
    plan = GridPlan("abc", "x", (unit,))
    assert st.stray_files(plan) == []
    copy = st.unit_path(unit).with_name("batch_00000 (copy).csv")
    copy.write_bytes(st.unit_path(unit).read_bytes())
    (st.units_dir / "README.txt").write_text("not a unit")
    assert st.stray_files(plan) == [copy]


def _grid(root, fingerprint, df):
    st = ResultStore(root, fingerprint)
    st.units_dir.mkdir(parents=True, exist_ok=True)  # a grid has units
    write_grid_tables(st, df.reset_index(drop=True))
    return st


def test_write_tables_paper_layout(tmp_path):
    df = pd.concat([_rows(masks=("bin", "topK_5")), _rows(method="lime", condition="white")])
    st = ResultStore(tmp_path, "abc")
    st.units_dir.mkdir(parents=True)
    paths = write_grid_tables(st, df.reset_index(drop=True))
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
    unit = Unit("abc", "stft", "room", "gradcam", 3, ("x", "y"))
    a = np.random.default_rng(0).standard_normal((2, 1, 5, 7)).astype(np.float32)
    st.write_attributions(unit, ["x", "y"], a)
    path = tmp_path / "stft" / "gradcam_room" / "attributions" / "batch_00003.npz"
    with np.load(path) as z:
        assert z["ids"].tolist() == ["x", "y"]
        np.testing.assert_allclose(z["attributions"], a, rtol=1e-3, atol=1e-3)
    assert not any(p.name.endswith(TEMP_SUFFIX) for p in path.parent.iterdir())
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
    write_grid_tables(ResultStore(tmp_path, "grid"), _rows())
    assert list(read_csv(tmp_path / "results.csv").columns) == list(_rows().columns)


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "..", ".hidden", "a/b", "", "x" * 101])
def test_names_cannot_escape_the_output_folder(tmp_path, name):
    with pytest.raises(ParameterError, match="cannot be used as a folder name"):
        check_path_name("model", name)
    st = ResultStore(tmp_path / "out", "abc")
    with pytest.raises(ParameterError):
        st.write_unit(
            Unit("abc", name, "clean", "saliency", 0, ("a",)), _rows(model=name, ids=("a",))
        )
    assert not any(tmp_path.rglob("*.csv"))
    for ok in ("mel", "cnn14_esc50", "AST-base+v2", "modèle"):
        assert check_path_name("model", ok) == ok


def test_lock_names_its_holder_and_is_released_by_death(tmp_path):
    path = tmp_path / "runs" / "abc" / "shard-0-of-1.lock"
    code = (
        "import sys, time; from audiointerp.experiments.grid.lock import RunLock;"
        f"RunLock({str(path)!r}, what='grid x').acquire(); print('held', flush=True);"
        "time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock_is_held(path)["pid"] == holder.pid
        with pytest.raises(LockHeldError, match=rf"pid {holder.pid} on host"):
            RunLock(path, what="grid x").acquire(wait_s=0)
    finally:
        holder.kill()  # kill -9: the kernel releases the lock, the file stays behind
        holder.wait()
    assert path.exists() and lock_is_held(path) is None
    with RunLock(path, what="grid x").acquire(wait_s=0) as lock:
        assert lock.holder()["pid"] == os.getpid()
    assert not path.exists()  # released: removed


def test_save_plan_refuses_a_shard_that_sees_other_clips(tmp_path):
    st = ResultStore(tmp_path, "abc")
    plan = GridPlan(
        "abc", "x", canonical_units("abc", [("mel", "clean", "lime")], {"mel": [["a"]]})
    )
    st.save_plan(plan, "name: x\n")
    assert st.load_plan().digest == plan.digest
    assert (st.run_dir / "config.yaml").read_text() == "name: x\n"
    other = GridPlan(
        "abc", "x", canonical_units("abc", [("mel", "clean", "lime")], {"mel": [["b"]]})
    )
    with pytest.raises(AudioInterpError, match="same data folder"):
        st.save_plan(other, "name: x\n")
