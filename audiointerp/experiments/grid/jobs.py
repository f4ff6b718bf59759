"""Whether the shard jobs of an earlier launch are still queued or running.

A queued Slurm job holds no run lock yet, so a second ``launch`` (after ``--no-wait``, or
while the first still waits) asks submitit about the jobs recorded in ``launch.json`` before
submitting a shard again: a finished job has left its result pickle; a local job is its
process (by pid, on the same host); a Slurm job is asked through ``sacct``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import submitit

from audiointerp.files import host_name

log = logging.getLogger(__name__)

# Slurm states of a job that has not ended (a queued job holds no lock yet)
_SLURM_LIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING",
               "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT"}  # fmt: skip


def job_alive(job: dict[str, Any], executor: str, folder: Path) -> bool:
    """Whether a job of an earlier launch (its ``launch.json`` entry) may still run its shard."""
    job_id = str(job.get("job_id", ""))
    if not job_id or submitit.core.utils.JobPaths(folder, job_id, 0).result_pickle.exists():
        return False  # never submitted, or finished (succeeded or failed: submitit wrote it)
    if executor == "local":  # the job id is the pid of the local job's process
        if job.get("host") != host_name() or not job_id.isdigit():
            return False
        proc = Path("/proc") / job_id
        try:  # a zombie (ended, not yet reaped) is not running; a reused pid is not the job
            state = (proc / "stat").read_text().split(") ")[-1][:1]
            return state != "Z" and b"submitit.local._local" in (proc / "cmdline").read_bytes()
        except OSError:
            return False
    try:  # sacct through submitit's watcher
        return submitit.SlurmJob(folder=folder, job_id=job_id).state in _SLURM_LIVE
    except Exception as exc:  # no sacct here, or an unreadable answer: assume it ended
        log.warning("could not ask Slurm about job %s (%s): assuming it ended", job_id, exc)
        return False


def earlier_jobs(record_path: Path, folder: Path, count: int) -> dict[int, dict[str, Any]]:
    """Jobs of the launch recorded in ``record_path`` (``launch.json``) with ``count`` shards
    that are still queued or running, by shard index (submitit's files in ``folder``)."""
    try:
        record = json.loads(Path(record_path).read_text(encoding="utf-8"))
        jobs = [*record.get("jobs", []), *record.get("still_running", [])]
        executor = str(record.get("executor", ""))
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    alive: dict[int, dict[str, Any]] = {}
    for job in jobs:
        if not isinstance(job, dict):
            continue
        index, _, n = str(job.get("shard", "")).partition("/")
        if n == str(count) and index.isdigit() and job_alive(job, executor, folder):
            alive[int(index)] = {**job, "executor": executor}
    return alive
