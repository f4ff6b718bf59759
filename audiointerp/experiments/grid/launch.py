"""Launch a grid as ``n`` shards through submitit: a Slurm job array or local processes.

:func:`launch_grid` plans the grid (:mod:`.units`), submits one job per shard that still owns
missing or damaged units (``submitit.AutoExecutor``: Slurm where ``srun`` exists, local
processes otherwise), waits with a progress bar over the grid's units, and merges. Each job runs
``run_experiment(cfg, shard=ShardSpec(i, n))`` with its thread cap, on its GPU when the
scheduler gives it one; its log is ``<run>/logs/shard-<i>-of-<n>.log`` (submitit's own
stdout/stderr beside it in ``logs/submitit/``). Running the same launch again after a failure
submits only the shards that still have work and no queued or running job of an earlier
launch (:mod:`.jobs`; it waits for those before merging). A job that Slurm preempts or times
out is requeued by submitit (:class:`ShardJob` is checkpointable) and resumes from its
finished units. The run folder, and so the log folder, must be on storage every node sees.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import submitit

from audiointerp.errors import AudioInterpError, ParameterError
from audiointerp.experiments.grid.config import ExperimentConfig, content_digests, load_experiment
from audiointerp.experiments.grid.jobs import earlier_jobs, job_alive
from audiointerp.experiments.grid.lock import lock_is_held
from audiointerp.experiments.grid.merge import MergeResult, merge_store
from audiointerp.experiments.grid.runner import config_yaml, open_plan
from audiointerp.experiments.grid.store import RECORD_SUFFIX, ResultStore, atomic_write_json
from audiointerp.experiments.grid.units import ShardSpec
from audiointerp.files import atomic_write_text, host_name
from audiointerp.progress import progress_bar
from audiointerp.validation import check_choice

log = logging.getLogger(__name__)

Executor = Literal["auto", "local", "slurm"]
EXECUTORS = ("auto", "local", "slurm")
LAUNCH_CONFIG = "launch.yaml"
LAUNCH_RECORD = "launch.json"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class LaunchOptions:
    """How to run the shards.

    Attributes
    ----------
    shards : int
        Number of shards ``n`` (shard ``i`` runs units ``i::n``).
    executor : {"auto", "local", "slurm"}
        ``auto``: Slurm where ``srun`` exists, local processes otherwise.
    slurm_partition : str, optional
    gpus_per_task : int, optional
        GPUs per shard job. Slurm: requested per task (``None``: none). Local: ``0`` keeps the
        workers on the CPU; ``None`` lets them see every GPU of the machine, spread by index.
    cpus_per_task : int, optional
        CPU cores per job, also its thread cap. Default: local, the machine's cores divided
        among the shards (at least 1); Slurm, 2.
    timeout_min : int
        Wall-time limit per job (a Slurm job past it is requeued and resumes).
    mem_gb : float, optional
        Memory per job.
    array_parallelism : int, optional
        Most shards running at once on Slurm.
    slurm_setup : list of str
        Shell lines run before each Slurm job (``module load ...``, activating the venv).
    wait : bool
        Wait for the jobs and merge; ``False`` returns once they are submitted.
    progress : bool
        Progress bar over the grid's units while waiting.
    """

    shards: int
    executor: Executor = "auto"
    slurm_partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    timeout_min: int = 240
    mem_gb: float | None = None
    array_parallelism: int | None = None
    slurm_setup: list[str] = field(default_factory=list)
    wait: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        ShardSpec(0, self.shards)  # validates the count
        check_choice("--executor", self.executor, EXECUTORS)
        for name in ("gpus_per_task", "cpus_per_task", "timeout_min", "array_parallelism"):
            value = getattr(self, name)
            least = 0 if name == "gpus_per_task" else 1
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < least
            ):
                raise ParameterError(
                    f"--{name.replace('_', '-')} must be an integer >= {least}, got {value!r}"
                )


@dataclass
class LaunchResult:
    """What :func:`launch_grid` did: the shards submitted, their jobs, and the merge."""

    run_dir: Path
    submitted: list[int]
    jobs: list[dict[str, Any]]
    merged: MergeResult | None
    worker_results: list[dict[str, Any]] = field(default_factory=list)
    running: list[int] = field(default_factory=list)  # shards of an earlier launch, not ended


def shard_log_path(run_dir: Path, shard: ShardSpec) -> Path:
    return run_dir / "logs" / f"shard-{shard.index}-of-{shard.count}.log"


class ShardJob(submitit.helpers.Checkpointable):
    """The job a shard runs: ``run_experiment`` on its units, with its thread cap.

    Checkpointable: when Slurm preempts or times out the job, submitit requeues the same call,
    which skips the units already complete.
    """

    def __call__(self, config_path: str, index: int, count: int, threads: int) -> dict[str, Any]:
        from audiointerp.experiments.grid.manifest import peak_rss_mb
        from audiointerp.experiments.grid.runner import run_experiment

        for var in _THREAD_VARS:  # for any child process; torch is capped below
            os.environ[var] = str(threads)
        shard = ShardSpec(int(index), int(count))
        cfg = load_experiment(config_path)
        handler = _shard_logging(shard_log_path(Path(config_path).parent, shard))
        try:
            log.info(
                "shard %s of grid %s: host %s, pid %d, %d thread(s), output %s",
                shard,
                cfg.name,
                host_name(),
                os.getpid(),
                threads,
                cfg.output_dir,
            )
            res = run_experiment(cfg, shard=shard, progress=False, threads=threads)
            log.info(
                "shard %s done: %d units computed, %d already complete",
                shard,
                res.units_computed,
                res.units_done,
            )
        finally:
            logging.getLogger("audiointerp").removeHandler(handler)
            handler.close()
        return {
            "shard": str(shard),
            "host": host_name(),
            "units_computed": res.units_computed,
            "units_done": res.units_done,
            "units_total": res.units_total,
            "device": res.manifest.get("device"),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }


def _shard_logging(path: Path) -> logging.Handler:
    """Log the package's INFO messages of this job to ``path`` (appended across requeues)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("audiointerp")
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    return handler


def _executor(opts: LaunchOptions, folder: Path, name: str) -> tuple[Any, int]:
    """The submitit executor for ``opts`` and the thread cap of each job."""
    cluster = None if opts.executor == "auto" else opts.executor
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if opts.executor == "slurm" and missing:
        raise AudioInterpError(
            f"--executor slurm: {' and '.join(missing)} not on this machine's PATH; launch "
            "from a Slurm login node, or use --executor local"
        )
    ex = submitit.AutoExecutor(folder=folder, cluster=cluster)
    slurm = ex.cluster == "slurm"
    cpus = opts.cpus_per_task or (2 if slurm else max(1, (os.cpu_count() or 1) // opts.shards))
    params: dict[str, Any] = {
        "name": f"audiointerp-{name}",
        "timeout_min": int(opts.timeout_min),
        "cpus_per_task": int(cpus),
        "tasks_per_node": 1,
        "nodes": 1,
    }
    if opts.mem_gb:
        params["mem_gb"] = float(opts.mem_gb)
    if slurm:
        params["slurm_setup"] = [
            *opts.slurm_setup,
            *(f"export {var}={cpus}" for var in _THREAD_VARS),
        ]
        if opts.slurm_partition:
            params["slurm_partition"] = opts.slurm_partition
        if opts.gpus_per_task:
            params["slurm_gpus_per_task"] = int(opts.gpus_per_task)
        if opts.array_parallelism:
            params["slurm_array_parallelism"] = int(opts.array_parallelism)
    else:
        gpus = opts.gpus_per_task
        if gpus is None:  # every GPU of the machine; each shard takes GPU index % count
            import torch

            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        params["gpus_per_node"] = int(gpus)
    ex.update_parameters(**params)
    return ex, int(cpus)


def _shard_busy(store: ResultStore, shard: ShardSpec, job: dict[str, Any] | None) -> bool:
    if lock_is_held(store.run_dir / shard.lock_name) is not None:
        return True
    folder = store.run_dir / "logs" / "submitit"
    return job is not None and job_alive(job, job.get("executor", ""), folder)


def _pending_shards(
    store: ResultStore, plan: Any, count: int
) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """Shards owning units that are not complete, and those still running or queued (their
    lock is held, or a job of an earlier launch has not ended): the latter are not
    resubmitted."""
    incomplete = {st.unit for st in store.check_units(plan.units) if not st.complete}
    earlier = earlier_jobs(
        store.run_dir / LAUNCH_RECORD, store.run_dir / "logs" / "submitit", count
    )
    pending, running = [], {}
    for i in range(count):
        shard = ShardSpec(i, count)
        if not any(u in incomplete for u in plan.shard(shard)):
            continue
        holder = lock_is_held(store.run_dir / shard.lock_name)
        if holder is not None:
            running[i] = {**holder, **({"job": earlier[i]} if i in earlier else {})}
        elif i in earlier:
            running[i] = {"job": earlier[i], "host": earlier[i].get("host"), "pid": None}
        else:
            pending.append(i)
    return pending, running


def _wait(jobs: list[Any], store: ResultStore, plan: Any, *, progress: bool) -> list[Any]:
    """Wait for ``jobs`` with a bar over the grid's complete units; returns their outcomes."""
    total = len(plan.units)

    def n_done() -> int:
        return sum(1 for _ in store.units_dir.rglob(f"*{RECORD_SUFFIX}"))

    with progress_bar(  # a live bar on a terminal, one line per finished unit in logs
        total=total, desc=f"grid {plan.name}", unit="unit", disable=not progress
    ) as bar:
        shown = min(total, n_done())
        bar.update(shown)
        while not all(job.done() for job in jobs):
            time.sleep(1.0)
            now = min(total, n_done())
            bar.update(now - shown)
            shown = now
        bar.update(min(total, n_done()) - shown)
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result())
        except Exception as exc:  # submitit reports a failed job as an exception
            outcomes.append(exc)
    return outcomes


def _failure_text(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def launch_grid(cfg: ExperimentConfig, opts: LaunchOptions) -> LaunchResult:
    """Run grid ``cfg`` as ``opts.shards`` jobs, wait, and merge.

    Parameters
    ----------
    cfg : ExperimentConfig
    opts : LaunchOptions

    Returns
    -------
    LaunchResult

    Raises
    ------
    AudioInterpError
        If jobs failed (each is named with its log); the units they finished are kept.
    """
    contents = content_digests(cfg)
    store = ResultStore(cfg.output_dir, cfg.fingerprint(contents))
    from audiointerp.experiments.grid.session import ExperimentSession

    session = ExperimentSession(cfg, device="cpu")  # the plan needs clip ids, not a GPU
    plan, _ = open_plan(cfg, session, store)
    del session
    pending, running = _pending_shards(store, plan, opts.shards)
    for i, holder in running.items():
        job = holder.get("job") or {}
        log.warning(
            "shard %d/%d is still running or queued (job %s, pid %s on host %s): not resubmitted",
            i, opts.shards, job.get("job_id", "-"), holder.get("pid") or "-", holder.get("host"),
        )  # fmt: skip
    jobs: list[Any] = []
    info: list[dict[str, Any]] = []
    if pending:
        config_path = store.run_dir / LAUNCH_CONFIG
        atomic_write_text(config_path, config_yaml(cfg))
        ex, threads = _executor(opts, store.run_dir / "logs" / "submitit", cfg.name)
        n = len(pending)
        jobs = ex.map_array(
            ShardJob(), [str(config_path)] * n, pending, [opts.shards] * n, [threads] * n
        )
        for i, job in zip(pending, jobs, strict=True):
            info.append(
                {
                    "shard": f"{i}/{opts.shards}",
                    "job_id": str(job.job_id),
                    "host": host_name(),
                    "log": str(shard_log_path(store.run_dir, ShardSpec(i, opts.shards))),
                    "stdout": str(job.paths.stdout),
                    "stderr": str(job.paths.stderr),
                }
            )
        atomic_write_json(
            {
                "submitted": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "executor": ex.cluster,
                "command": sys.argv,
                "threads_per_job": threads,
                "shards": opts.shards,
                "jobs": info,
                # jobs of an earlier launch not ended yet, so that a next launch sees them
                "still_running": [h["job"] for h in running.values() if h.get("job")],
            },
            store.run_dir / LAUNCH_RECORD,
        )
        log.info("submitted %d of %d shards (%s): %s", n, opts.shards, ex.cluster,
                 ", ".join(j["job_id"] for j in info))  # fmt: skip
    result = LaunchResult(store.run_dir, pending, info, None, running=sorted(running))
    if not opts.wait:
        return result
    try:
        outcomes = _wait(jobs, store, plan, progress=opts.progress)
    except KeyboardInterrupt:
        if jobs and jobs[0].__class__.__name__ == "LocalJob":
            for job in jobs:
                job.cancel(check=False)
        raise
    failed = [(j, o) for j, o in zip(info, outcomes, strict=True) if isinstance(o, BaseException)]
    result.worker_results = [o for o in outcomes if not isinstance(o, BaseException)]
    if failed:
        listed = "; ".join(
            f"shard {j['shard']} (job {j['job_id']}): {_failure_text(o)} [log {j['log']}, "
            f"stderr {j['stderr']}]"
            for j, o in failed
        )
        raise AudioInterpError(
            f"{len(failed)} of {len(info)} shard job(s) failed: {listed}. Their finished units "
            "are kept: fix the cause and run the same launch command again (it submits only "
            "the shards that still have work)"
        )
    for i, holder in running.items():  # shards of an earlier launch: merged once they end
        while _shard_busy(store, ShardSpec(i, opts.shards), holder.get("job")):
            time.sleep(2.0)
    result.merged = merge_store(store, cfg, plan, contents=contents)
    return result


def run_grid(
    cfg: ExperimentConfig,
    *,
    shards: int = 1,
    executor: Executor = "local",
    progress: bool = True,
) -> Any:
    """The grid of ``cfg`` in this process (``shards=1``) or as ``shards`` launched jobs,
    merged either way (notebooks 03/04 call this with their ``shards`` parameter).

    Returns
    -------
    RunResult
        With the merged table and manifest.
    """
    from audiointerp.experiments.grid.runner import RunResult, run_experiment

    if int(shards) == 1:
        return run_experiment(cfg, progress=progress)
    launched = launch_grid(
        cfg, LaunchOptions(shards=int(shards), executor=executor, progress=progress)
    )
    merged = launched.merged
    if merged is None:  # pragma: no cover - LaunchOptions.wait is True here
        raise RuntimeError("launch_grid returned before merging")
    return RunResult(
        output=cfg.output_dir,
        table=merged.table,
        manifest=merged.manifest,
        paths=merged.paths,
        run_dir=merged.run_dir,
        units_total=merged.manifest["plan"]["n_units"],
    )
