"""The grid beyond one machine: shards in separate processes, kill -9, merge, launch, locks,
damaged units, the user's files, names that cannot escape, device placement."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from experiment_fixtures import session_setup

from audiointerp import cli
from audiointerp.config import save_yaml
from audiointerp.errors import AudioInterpError, ParameterError
from audiointerp.experiments.grid.config import load_experiment
from audiointerp.experiments.grid.jobs import earlier_jobs
from audiointerp.experiments.grid.launch import LaunchOptions, _executor, run_grid
from audiointerp.experiments.grid.merge import merge_run
from audiointerp.experiments.grid.runner import KILL_AFTER_UNITS_ENV, run_experiment, worker_device
from audiointerp.experiments.grid.store import ResultStore, read_csv
from audiointerp.experiments.grid.units import ShardSpec
from audiointerp.files import TEMP_SUFFIX, host_name

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "audiointerp", *args]
    res = subprocess.run(cmd, env=env or ENV, cwd=ROOT, capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stderr[-3000:]
    return res


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    """``audiointerp ARGV`` in this process: (exit status, stdout, stderr)."""
    rc = cli.main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _start(*args: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "audiointerp", *args]
    return subprocess.Popen(
        cmd, env=env or ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


class Grid:
    """A small grid (2 models x 2 conditions x 3 methods incl. stochastic LIME x 2 batches =
    24 units), its config file, a one-process baseline and a three-shard run of it."""

    def __init__(self, tmp: Path, tiny) -> None:
        over = tiny.overrides(tmp / "unused", clips_per_unit=2)
        self.cfg = load_experiment(None, over)
        self.config = tmp / "grid.yaml"
        save_yaml(self.cfg, self.config)
        self.fingerprint = self.cfg.fingerprint()
        self.baseline = tmp / "one"
        self.sharded = tmp / "three"
        # one model, condition and method (5 masks x 4 clips = 20 rows), for in-process runs
        self.mini_cfg = load_experiment(
            self.config,
            {"models": {"mel": tiny.models["mel"]}, "conditions": ["clean"],
             "methods": {"saliency": {}}},
        )  # fmt: skip
        self.mini = tmp / "mini.yaml"
        save_yaml(self.mini_cfg, self.mini)

    def run_dir(self, out: Path) -> Path:
        return out / "runs" / self.fingerprint

    def copy(self, dst: Path) -> Path:
        shutil.copytree(self.sharded, dst)
        return dst

    def units(self, out: Path, shard: ShardSpec) -> list:
        store = ResultStore(out, self.fingerprint)
        return store, store.load_plan().shard(shard)


@pytest.fixture(autouse=True)
def one_thread():
    """In-process runs with the subprocesses' one thread: results are bit-identical for a
    fixed thread count (conv kernels split their sums by thread on some CPUs, e.g. AMD EPYC,
    so 1 and 2 threads differ at ~1e-7)."""
    import torch

    kept = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(kept)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    tiny = session_setup(tmp_path_factory)
    g = Grid(tmp_path_factory.mktemp("shards"), tiny)
    procs = [_start("run", "--config", str(g.config), "--out", str(g.baseline), "--no-progress")]
    procs += [
        _start("run", "--config", str(g.config), "--out", str(g.sharded), "--shard", f"{i}/3")
        for i in range(3)
    ]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    assert not (g.sharded / "results.csv").exists()  # shards leave the tables to merge
    merge_run(g.run_dir(g.sharded))
    return g


def _same_tables(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(
        read_csv(a / "results.csv"), read_csv(b / "results.csv"), check_exact=True
    )
    masks_a = sorted(p.relative_to(a) for p in a.glob("*/*/csvs/*.csv"))
    assert masks_a == sorted(p.relative_to(b) for p in b.glob("*/*/csvs/*.csv")) and masks_a
    for rel in masks_a:
        pd.testing.assert_frame_equal(read_csv(a / rel), read_csv(b / rel), check_exact=True)


def test_one_and_three_shards_in_separate_processes_give_identical_tables(grid, capsys):
    _same_tables(grid.baseline, grid.sharded)
    table = read_csv(grid.sharded / "results.csv")
    assert len(table) == 2 * 2 * 3 * 5 * 4  # models x conditions x methods x masks x clips
    manifest = json.loads((grid.sharded / "manifest.json").read_text())
    assert manifest["plan"]["n_units"] == 24
    assert manifest["units_by_shard"] == {"0/3": 8, "1/3": 8, "2/3": 8}
    assert len(manifest["sessions"]) == 3 and manifest["fingerprint"] == grid.fingerprint
    # the merge does not depend on the order files were written: shuffle mtimes, merge again
    store = ResultStore(grid.sharded, grid.fingerprint)
    for k, path in enumerate(sorted(store.units_dir.rglob("*.csv"), reverse=True)):
        os.utime(path, (1e9 + k, 1e9 + k))
    assert _main(capsys, "merge", str(grid.sharded))[0] == 0  # a root with one run names it
    _same_tables(grid.baseline, grid.sharded)


def test_a_shard_killed_with_sigkill_resumes_without_recomputing_finished_units(grid, tmp_path):
    out = tmp_path / "killed"
    args = ["run", "--config", str(grid.config), "--out", str(out), "--shard", "1/2"]
    killed = _cli(*args, env={**ENV, KILL_AFTER_UNITS_ENV: "3"}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    store, mine = grid.units(out, ShardSpec(1, 2))
    done = {u.key: store.record_path(u).read_bytes() for u in mine if store.check_unit(u).complete}
    assert len(done) == 3 and len(mine) == 12
    lock = store.run_dir / "shard-1-of-2.lock"
    assert lock.exists()  # left behind by the killed process, released by the kernel
    _cli(*args)
    session = json.loads(sorted((store.run_dir / "sessions").glob("*.json"))[-1].read_text())
    assert session["units_computed"] == 9 and session["units_skipped"] == 3
    for u in mine:  # finished units untouched: same record (same writer pid, same time)
        if u.key in done:
            assert store.record_path(u).read_bytes() == done[u.key]
        assert store.check_unit(u).complete
    assert not lock.exists()
    base = ResultStore(grid.baseline, grid.fingerprint)
    for u in mine:  # the resumed shard's rows are the one-process run's, byte for byte
        assert store.unit_path(u).read_bytes() == base.unit_path(u).read_bytes()


def test_merge_refuses_an_incomplete_run_naming_what_is_missing(grid, tmp_path, capsys):
    out = grid.copy(tmp_path / "incomplete")
    store, lost = grid.units(out, ShardSpec(2, 3))
    for u in lost[:5]:
        store.unit_path(u).unlink()
        store.record_path(u).unlink()
    (out / "results.csv").unlink()
    rc, _, err = _main(capsys, "merge", str(store.run_dir))
    assert rc == 2
    assert "5 of 24 units missing" in err
    for u in lost[:5]:
        assert u.name in err
    assert "audiointerp run --config" in err  # how to finish it
    assert not (out / "results.csv").exists()


@pytest.mark.parametrize("damage", ["cut in half", "header only", "zero bytes"])
def test_a_damaged_unit_is_refused_by_merge_and_recomputed_on_resume(
    grid, tmp_path, damage, caplog, capsys
):
    out = grid.copy(tmp_path / "damaged")
    store, units = grid.units(out, ShardSpec(0, 1))
    unit = units[5]
    path = store.unit_path(unit)
    data = path.read_bytes()
    path.write_bytes(
        {
            "cut in half": data[: len(data) // 2],
            "header only": data.split(b"\n", 1)[0] + b"\n",
            "zero bytes": b"",
        }[damage]
    )
    rc, _, err = _main(capsys, "merge", str(store.run_dir))
    assert rc == 2 and "1 of 24 units damaged" in err and unit.name in err
    cfg = load_experiment(grid.config, {"output": str(out)})
    with caplog.at_level(logging.WARNING, logger="audiointerp"):
        result = run_experiment(cfg, progress=False)
    assert result.units_computed == 1  # only the damaged unit
    warned = [r.getMessage() for r in caplog.records if "recomputing damaged" in r.getMessage()]
    assert len(warned) == 1 and unit.name in warned[0]
    _same_tables(grid.baseline, out)


def test_a_unit_without_completion_record_is_partial_and_recomputed(grid, tmp_path, caplog, capsys):
    out = grid.copy(tmp_path / "partial")
    store, units = grid.units(out, ShardSpec(0, 1))
    store.record_path(units[0]).unlink()  # the writer died between rows and record
    rc, _, err = _main(capsys, "merge", str(store.run_dir))
    assert rc == 2 and "partial" in err and units[0].name in err
    with caplog.at_level(logging.WARNING, logger="audiointerp"):
        run_experiment(load_experiment(grid.config, {"output": str(out)}), progress=False)
    assert any("recomputing partial" in r.getMessage() for r in caplog.records)
    _same_tables(grid.baseline, out)


def test_merge_refuses_duplicated_unit_files(grid, tmp_path, capsys):
    out = grid.copy(tmp_path / "dup")
    store, units = grid.units(out, ShardSpec(0, 1))
    rec = store.record_path(units[2])
    shutil.copy(rec, rec.with_name("batch_00000 copy.done.json"))
    shutil.copy(store.unit_path(units[2]), rec.with_name("batch_00000 copy.csv"))
    rc, _, err = _main(capsys, "merge", str(store.run_dir))
    assert rc == 2 and "the plan does not name" in err
    assert f"a copy of unit {units[2].name}" in err


def test_launch_local_runs_end_to_end_and_resubmits_only_what_is_missing(
    grid, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "launched"
    argv = ["launch", "--config", str(grid.config), "--out", str(out), "--shards", "2"]
    argv += ["--executor", "local", "--no-progress"]
    run_dir = grid.run_dir(out)
    logs = [run_dir / "logs" / f"shard-{i}-of-2.log" for i in range(2)]
    # every job dies (kill -9) after 3 units: launch names the failed shards and their logs
    monkeypatch.setenv(KILL_AFTER_UNITS_ENV, "3")
    rc, _, err = _main(capsys, *argv)
    assert rc == 2 and "2 of 2 shard job(s) failed" in err and str(logs[1]) in err
    monkeypatch.delenv(KILL_AFTER_UNITS_ENV)
    # the same command again: each shard computes only its 9 missing units, then the merge
    rc, printed, _ = _main(capsys, *argv)
    assert rc == 0 and "submitted 2 of 2 shard(s)" in printed
    for i in range(2):
        assert f"shard {i}/2 done: 9 units computed, 3 already complete" in logs[i].read_text()
    _same_tables(grid.baseline, out)
    launch = json.loads((run_dir / "launch.json").read_text())
    assert launch["executor"] == "local" and [j["shard"] for j in launch["jobs"]] == ["0/2", "1/2"]
    # two units of shard 1 lost: only shard 1 is submitted, and it recomputes those two
    store, mine = grid.units(out, ShardSpec(1, 2))
    for u in mine[:2]:
        store.unit_path(u).unlink()
    rc, printed, _ = _main(capsys, *argv)
    assert rc == 0 and "submitted 1 of 2 shard(s): 1/2" in printed
    assert "shard 1/2 done: 2 units computed, 10 already complete" in logs[1].read_text()
    _same_tables(grid.baseline, out)
    rc, printed, _ = _main(capsys, *argv)  # nothing left: no job, just the merge
    assert rc == 0 and "no shard of 2 has work left" in printed


def test_launch_no_wait_returns_and_a_second_launch_does_not_resubmit_its_jobs(
    grid, tmp_path, capsys
):
    out = tmp_path / "nowait"
    argv = ["launch", "--config", str(grid.mini), "--out", str(out), "--shards", "2"]
    argv += ["--executor", "local", "--no-progress"]
    with (tmp_path / "launcher.txt").open("w") as sink:  # the jobs outlive the launcher
        first = subprocess.run(
            [sys.executable, "-m", "audiointerp", *argv, "--no-wait"],
            env=ENV, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, timeout=300,
        )  # fmt: skip
    printed = (tmp_path / "launcher.txt").read_text()
    assert first.returncode == 0 and "audiointerp merge" in printed, printed[-2000:]
    run_dir = out / "runs" / grid.mini_cfg.fingerprint()
    record = run_dir / "launch.json"
    submitted = json.loads(record.read_text())["jobs"]
    # queued or starting jobs hold no lock yet: the record tells a second launch about them
    alive = earlier_jobs(record, run_dir / "logs" / "submitit", 2)
    assert sorted(alive) == [0, 1] and not (out / "results.csv").exists()
    rc, printed, _ = _main(capsys, *argv)  # waits for those jobs, submits nothing, merges
    assert rc == 0 and "shard(s):" not in printed and "no shard of 2" not in printed
    assert "still running or queued from an earlier launch: 0/2, 1/2" in printed
    assert json.loads(record.read_text())["jobs"] == submitted
    assert earlier_jobs(record, run_dir / "logs" / "submitit", 2) == {}
    for i in range(2):  # each shard ran once
        log_text = (run_dir / "logs" / f"shard-{i}-of-2.log").read_text()
        assert log_text.count(f"shard {i}/2 done: ") == 1
    assert len(read_csv(out / "results.csv")) == 20


def test_slurm_options_reach_the_job_script(tmp_path, monkeypatch, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))  # no Slurm here: a clear refusal, exit 2
    with pytest.raises(AudioInterpError, match="sbatch and srun not on this machine's PATH"):
        _executor(LaunchOptions(shards=2, executor="slurm"), tmp_path / "logs", "g")
    fake = tmp_path / "slurm-bin"  # a login node: submitit only needs the tools to exist
    fake.mkdir()
    for tool in ("sbatch", "srun"):
        (fake / tool).write_text("#!/bin/sh\nexit 1\n")
        (fake / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    opts = LaunchOptions(
        shards=16, executor="auto", slurm_partition="gpu", gpus_per_task=1, cpus_per_task=4,
        timeout_min=60, mem_gb=32, slurm_setup=["source .venv/bin/activate"],
    )  # fmt: skip
    ex, threads = _executor(opts, tmp_path / "logs", "paper")
    assert ex.cluster == "slurm" and threads == 4  # auto picks Slurm where srun exists
    script = ex._executor._make_submission_file_text("CMD", "uid")
    for line in ("--partition=gpu", "--gpus-per-task=1", "--cpus-per-task=4", "--time=60",
                 "--mem=32GB", "--job-name=audiointerp-paper"):  # fmt: skip
        assert f"#SBATCH {line}\n" in script
    setup = script.split("# setup\n", 1)[1]
    assert setup.startswith("source .venv/bin/activate\nexport OMP_NUM_THREADS=4\n")


def test_notebooks_run_grid_with_shards_equals_one_process(grid, tmp_path):
    # notebooks 03/04 call run_grid with their `shards` parameter: 2 launched local shards
    # give the one-process tables and a RunResult of the merged grid
    one = run_grid(load_experiment(grid.mini, {"output": str(tmp_path / "one")}), progress=False)
    two = run_grid(
        load_experiment(grid.mini, {"output": str(tmp_path / "two")}), shards=2, progress=False
    )
    assert one.units_total == two.units_total == 2 and len(two.table) == 20
    assert two.run_dir == tmp_path / "two" / "runs" / grid.mini_cfg.fingerprint()
    assert (two.run_dir / "logs" / "shard-1-of-2.log").exists()
    pd.testing.assert_frame_equal(one.table, two.table, check_exact=True)
    _same_tables(tmp_path / "one", tmp_path / "two")


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    code = (
        "import time; from audiointerp.experiments.grid.lock import RunLock;"
        f"RunLock({str(path)!r}, what='a grid').acquire(); print('held', flush=True);"
        f"time.sleep({seconds})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_the_same_folder_stops_clearly_or_waits(grid, tmp_path, capsys):
    out = tmp_path / "busy"
    run_dir = out / "runs" / grid.mini_cfg.fingerprint()
    holder = _hold_lock(run_dir / "shard-0-of-1.lock", 6)
    try:
        argv = ["run", "--config", str(grid.mini), "--out", str(out), "--no-progress"]
        rc, _, err = _main(capsys, *argv)
        assert rc == 2 and "is already running" in err
        assert f"pid {holder.pid} on host {host_name()}" in err
        assert "--wait-lock" in err and not (out / "results.csv").exists()
        # shards of another layout are refused too while the whole grid runs
        rc, _, err = _main(capsys, *argv, "--shard", "0/2")
        assert rc == 2 and "share a layout" in err
        assert _main(capsys, *argv, "--wait-lock", "300")[0] == 0  # queues behind it, then runs
        assert holder.poll() is not None  # it only started once the holder had finished
    finally:
        holder.kill()
        holder.wait()
    assert len(read_csv(out / "results.csv")) == 20


def test_the_users_files_in_the_output_folder_survive_a_run(grid, tmp_path, capsys):
    out = tmp_path / "users"
    run_dir = out / "runs" / grid.mini_cfg.fingerprint()
    unit_folder = run_dir / "units" / "mel" / "clean" / "saliency"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours = unit_folder / f".batch_00000.csv~{host_name()}~{dead.pid}~deadbeef{TEMP_SUFFIX}"
    users = [out / "notes" / ".draft.md.tmp", out / ".results.csv.tmp", out / "runs" / ".x.tmp",
             unit_folder / ".mine.tmp", out / "mel" / "saliency_clean" / "csvs" / ".bin.csv.1.tmp"]  # fmt: skip
    for p in (*users, ours):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("draft")
    # a concurrent writer's temporary (a live process on this host) is not touched either
    live = unit_folder / f".batch_00001.csv~{host_name()}~{os.getpid()}~cafe0000{TEMP_SUFFIX}"
    live.write_text("in flight")
    assert (
        _main(capsys, "run", "--config", str(grid.mini), "--out", str(out), "--no-progress")[0] == 0
    )
    assert all(p.read_text() == "draft" for p in users)
    assert live.read_text() == "in flight"
    assert not ours.exists()  # the store's own leftover of a dead writer is cleaned
    assert len(read_csv(out / "results.csv")) == 20


def test_model_names_cannot_escape_the_output_folder(grid, tmp_path, capsys):
    cfg = tmp_path / "escape.yaml"
    save_yaml(grid.mini_cfg, cfg)
    cfg.write_text(cfg.read_text().replace("  mel:", "  ../../escaped:", 1))
    out = tmp_path / "a" / "b" / "out"
    rc, _, err = _main(capsys, "run", "--config", str(cfg), "--out", str(out))
    assert rc == 2 and "'../../escaped' cannot be used as a folder name" in err
    assert not list(tmp_path.rglob("escaped*")) and not out.exists()
    rc, _, err = _main(
        capsys, "illustrate", "--weights", f"../../escaped={grid.cfg.models['mel']}",
        "--audio", str(ROOT / "samples" / "audio" / "1-42000-A-42.flac"), "--out", str(out),
    )  # fmt: skip
    assert rc == 2 and "cannot be used as a folder name" in err
    assert not list(tmp_path.rglob("escaped*")) and not out.exists()


def test_device_batch_sizes_are_memory_knobs_out_of_the_fingerprint(grid):
    base = load_experiment(grid.config)
    sized = load_experiment(
        grid.config, {"device_batch_size": {"cuda": {"batch_size": 512, "lime": 256}}}
    )
    assert sized.fingerprint() == base.fingerprint()
    assert sized.batch_size_for("cuda") == 512 and sized.batch_size_for("cpu") == base.batch_size
    assert sized.method_options("lime", "cuda")["batch_size"] == 256
    assert sized.method_options("lime", "cpu") == base.methods["lime"]
    for bad, match in (
        ({"tpu": {"batch_size": 2}}, "device type"),
        ({"cuda": {"shap": 2}}, "not batch_size nor a method"),
        ({"cuda": {"batch_size": 0}}, "integer >= 1"),
        ([1], "mapping"),
    ):
        with pytest.raises(ParameterError, match=match):
            load_experiment(grid.config, {"device_batch_size": bad})


def test_worker_device_uses_the_gpu_it_is_given_else_the_cpu(monkeypatch):
    assert worker_device("cpu", ShardSpec(3, 4)) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert worker_device(None, ShardSpec(3, 4)) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # Slurm --gpus-per-task 1
    assert worker_device(None, ShardSpec(3, 4)) == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # one machine, two GPUs
    assert [worker_device(None, ShardSpec(i, 4)).index for i in range(4)] == [0, 1, 0, 1]
    assert worker_device("cuda:1", ShardSpec(0, 4)) == torch.device("cuda", 1)
