"""The one-command demo as a function: data, grid, tables, illustration, listening page.

Each step is skipped when its output exists (the grid resumes unit by unit), so running the
demo again after an interruption finishes it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from audiointerp.experiments.conditions import NOISE_NAMES, parse_condition
from audiointerp.experiments.config import ExperimentConfig
from audiointerp.experiments.manifest import peak_rss_mb, read_manifest
from audiointerp.experiments.store import MANIFEST, atomic_write_json

log = logging.getLogger(__name__)


def ensure_benchmark(root: str | Path, *, seed: int = 0, progress: bool = True) -> Path:
    """Generate the synthetic benchmark under ``root`` unless it is already complete."""
    root = Path(root)
    if (root / "meta" / "esc50.csv").is_file():
        return root
    from audiointerp.data.synth import generate_benchmark

    log.info("generating the synthetic benchmark in %s", root)
    return generate_benchmark(root, seed=seed, progress=progress)


def ensure_noises(folder: str | Path, names: tuple[str, ...] = NOISE_NAMES) -> Path:
    """Write the condition noises into ``folder`` unless they exist (committed in ``noises/``)."""
    folder = Path(folder)
    missing = [n for n in names if not (folder / f"{n}.wav").is_file()]
    if missing:
        from audiointerp.data.noises import write_noises

        log.info("writing the noises to %s (missing: %s)", folder, missing)
        write_noises(folder)
    return folder


def pick_clip(table: Any) -> str:
    """A clip worth illustrating: correctly classified, highest probability on the clean mel
    (or first) model."""
    df = table[table["condition"] == "clean"] if "clean" in set(table["condition"]) else table
    df = df[df["model"] == ("mel" if "mel" in set(df["model"]) else df["model"].iloc[0])]
    right = df[df["correct"].astype(bool)]
    df = right if len(right) else df
    return str(df.sort_values(["p", "id"], ascending=[False, True])["id"].iloc[0])


def run_models_in_parallel(cfg: ExperimentConfig, *, progress: bool = True) -> list[float]:
    """Run each model's part of the grid in its own single-threaded process, then merge.

    On a small CPU, two processes with one thread each finish the grid faster than one process
    with two threads: the per-clip forward passes are small, and intra-op threads spend much of
    their time waiting at barriers. Each part is an ordinary resumable grid (its own
    fingerprint); the root table is rebuilt once all have finished.

    Returns
    -------
    list of float
        Peak resident memory (MiB) of each worker, from its manifest.
    """
    import os
    import subprocess
    import sys
    from dataclasses import replace

    from audiointerp.config import save_yaml
    from audiointerp.errors import AudioInterpError
    from audiointerp.experiments.store import COMBINED_TABLE, atomic_write_csv, merge_runs

    out = Path(cfg.output)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for i, (name, weights) in enumerate(cfg.models.items()):
        part = replace(cfg, models={name: weights}, name=f"{cfg.name}_{name}")
        path = out / "runs" / f"{part.name}.yaml"
        save_yaml(part, path)
        cmd = [sys.executable, "-m", "audiointerp", "run", "--config", str(path)]
        if not (progress and i == 0):  # one bar (the parts are the same size): its ETA holds
            cmd.append("--no-progress")
        procs.append((name, part, subprocess.Popen(cmd, env=env)))
    peaks = []
    for name, part, proc in procs:
        if proc.wait() != 0:
            raise AudioInterpError(
                f"the {name} part of the demo grid failed (exit {proc.returncode}); run the "
                "demo again to resume it"
            )
        manifest = read_manifest(out / "runs" / part.fingerprint()) or {}
        peaks.append(float(manifest.get("peak_rss_mb", 0.0)))
    atomic_write_csv(merge_runs(out), out / COMBINED_TABLE)
    return peaks


def run_demo(
    cfg: ExperimentConfig,
    *,
    supplementary: str | Path = "supplementary",
    progress: bool = True,
    parallel: bool = True,
) -> dict[str, Any]:
    """Run the whole demo for grid ``cfg``.

    Parameters
    ----------
    cfg : ExperimentConfig
    supplementary : str or Path
        Folder for the tables and the illustration.
    progress : bool
    parallel : bool
        One single-threaded process per model (:func:`run_models_in_parallel`) on CPU.

    Returns
    -------
    dict
        ``paths`` (what -> where), ``wall_s`` and ``peak_rss_mb`` (also written to the
        manifest under ``demo``).
    """
    from audiointerp.experiments.runner import run_experiment

    t0 = time.perf_counter()
    stages: dict[str, float] = {}

    def mark(name: str, since: float) -> float:
        now = time.perf_counter()
        stages[name] = round(now - since, 2)
        return now

    t = t0
    ensure_benchmark(cfg.data.root, progress=progress)
    noise_names = tuple(sorted({c.noise for c in map(parse_condition, cfg.conditions) if c.noise}))
    if noise_names:
        ensure_noises(cfg.noises_dir, noise_names)
    t = mark("data", t)
    worker_peaks: list[float] = []
    import torch

    if parallel and len(cfg.models) > 1 and not torch.cuda.is_available():
        from audiointerp.experiments.store import load_results

        worker_peaks = run_models_in_parallel(cfg, progress=progress)
        table = load_results(cfg.output)
    else:
        table = run_experiment(cfg, progress=progress).table
    t = mark("grid", t)
    out = Path(cfg.output)
    supp = Path(supplementary)
    paths: dict[str, str] = {
        "tidy table": str(out / "results.csv"),
        "per-mask CSVs": str(out / "<model>/<method>_<condition>/csvs/<mask>.csv"),
        "manifest": str(out / MANIFEST),
    }
    from audiointerp.experiments.tables import write_tables

    tables = write_tables(out, supp)
    paths["tables (HTML)"] = str(tables.html)
    paths["tables (CSV, LaTeX)"] = str(Path(tables.files[0]).parent) if tables.files else str(supp)
    t = mark("tables", t)
    clip_id = pick_clip(table)
    from audiointerp.experiments.illustrate import illustrate_clip

    ill = illustrate_clip(
        clip_id,
        models=dict(cfg.models),
        out_dir=supp / "illustration",
        data=cfg.data.root,
        methods=list(cfg.methods),
        duration_s=cfg.data.duration_s,
        seed=cfg.seed,
        device=cfg.device,
    )
    for name, model_ill in ill.models.items():
        paths[f"figure ({name})"] = str(model_ill.figure_png)
    paths["listening page"] = str(ill.html)
    mark("illustration", t)
    wall = time.perf_counter() - t0
    own = peak_rss_mb()
    report = {
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(own + sum(worker_peaks), 1),
        "peak_rss_mb_main": round(own, 1),
        "peak_rss_mb_workers": worker_peaks,
        "stage_s": stages,
        "clip": clip_id,
        "paths": paths,
    }
    manifest = read_manifest(out) or {}
    manifest["demo"] = report
    atomic_write_json(manifest, out / MANIFEST)
    return report
