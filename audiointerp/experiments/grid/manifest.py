"""The run manifest: config, seed, versions, git commit, timings per stage, peak memory.

A resumed run appends a session record, so ``total_wall_s`` covers every session that
contributed units and ``peak_rss_mb`` is the largest any of them reached.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from audiointerp.config import to_dict
from audiointerp.experiments.grid.store import MANIFEST, ResultStore, atomic_write_json

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
    return {
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
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
    import json

    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def write_manifest(
    cfg: Any, store: ResultStore, *, session: dict[str, Any], **summary: Any
) -> dict[str, Any]:
    """Write (or extend, for a resumed run of the same grid) the manifest; return it.

    Sessions are kept in a per-fingerprint file beside the units, so a resumed run adds to
    the history of the grid it finishes and never inherits another grid's timings.
    """
    history_file = store.units_dir.parent / "sessions.json"
    history = read_manifest(history_file) or {"sessions": []}
    history["sessions"].append(session)
    atomic_write_json(history, history_file)
    sessions = history["sessions"]
    manifest = {
        "name": cfg.name,
        "fingerprint": store.fingerprint,
        "seed": cfg.seed,
        "config": to_dict(cfg),
        "command": sys.argv,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "total_wall_s": round(sum(s["wall_s"] for s in sessions), 3),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in sessions),
        "sessions": sessions,
        **summary,
    }
    atomic_write_json(manifest, store.units_dir.parent / MANIFEST)
    atomic_write_json(manifest, manifest_path(store))
    return manifest
