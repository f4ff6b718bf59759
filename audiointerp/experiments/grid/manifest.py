"""The run manifest: config, seed, versions, git commit, timings per stage, peak memory.

Every session that computes units (a resumed run, each shard) leaves its own record in the run
folder's ``sessions/``; the merge gathers them, so ``total_wall_s`` covers every session that
contributed units and ``peak_rss_mb`` is the largest any of them reached.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from audiointerp.config import to_dict
from audiointerp.experiments.grid.store import MANIFEST, ResultStore, atomic_write_json
from audiointerp.files import host_name

SESSIONS = "sessions"

PACKAGES = (
    "audiointerp",
    "torch",
    "numpy",
    "scipy",
    "librosa",
    "captum",
    "shap",
    "pandas",
    "soundfile",
    "soxr",
    "scikit-learn",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages the results depend on (``None`` if absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current commit hash (with ``+dirty`` if the tree has changes), or ``None``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def session_record(timer: Any, *, wall_s: float, **extra: Any) -> dict[str, Any]:
    """One session's timings (seconds per stage), counts, peak memory and wall time."""
    import torch  # here, not at import: the tables step reads manifests without torch

    return {
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": host_name(),
        "pid": os.getpid(),
        "wall_s": round(wall_s, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "torch_threads": torch.get_num_threads(),
        "stage_s": {k: round(v, 3) for k, v in sorted(timer.seconds.items())},
        "counts": dict(sorted(timer.counts.items())),
        **extra,
    }


def manifest_path(store: ResultStore) -> Path:
    return store.root / MANIFEST


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The manifest at ``path`` (a file or a results folder), or ``None`` if absent."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def write_session(store: ResultStore, record: dict[str, Any]) -> Path:
    """Save one session's record in the run folder (one file per session, so shards running
    at the same time never rewrite each other's history)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    path = store.run_dir / SESSIONS / f"{stamp}_{record['host']}_{record['pid']}.json"
    atomic_write_json(record, path)
    return path


def read_sessions(store: ResultStore) -> list[dict[str, Any]]:
    """Every session record of the run, oldest first."""
    out = []
    for path in sorted((store.run_dir / SESSIONS).glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a record is history, not results: an unreadable one is skipped
    return sorted(out, key=lambda s: s.get("finished", ""))


def write_manifest(cfg: Any, store: ResultStore, **summary: Any) -> dict[str, Any]:
    """Write the manifest of a merged grid into its run folder and the results root.

    ``total_wall_s`` sums the wall time of every session (worker-seconds when shards ran in
    parallel) and ``peak_rss_mb`` is the largest any session reached.
    """
    sessions = read_sessions(store)
    manifest = {
        "name": cfg.name,
        "fingerprint": store.fingerprint,
        "seed": cfg.seed,
        "config": to_dict(cfg),
        "command": sys.argv,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "total_wall_s": round(sum(s.get("wall_s", 0.0) for s in sessions), 3),
        "peak_rss_mb": max((s.get("peak_rss_mb", 0.0) for s in sessions), default=0.0),
        "sessions": sessions,
        **summary,
    }
    atomic_write_json(manifest, store.run_dir / MANIFEST)
    atomic_write_json(manifest, manifest_path(store))
    return manifest
