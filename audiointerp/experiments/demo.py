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


def run_demo(
    cfg: ExperimentConfig, *, supplementary: str | Path = "supplementary", progress: bool = True
) -> dict[str, Any]:
    """Run the whole demo for grid ``cfg``.

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
    result = run_experiment(cfg, progress=progress)
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
    clip_id = pick_clip(result.table)
    from audiointerp.experiments.illustrate import illustrate_clip

    ill = illustrate_clip(
        clip_id, models=dict(cfg.models), out_dir=supp / "illustration", data=cfg.data.root,
        methods=list(cfg.methods), duration_s=cfg.data.duration_s, seed=cfg.seed,
        device=cfg.device,
    )
    for name, model_ill in ill.models.items():
        paths[f"figure ({name})"] = str(model_ill.figure_png)
    paths["listening page"] = str(ill.html)
    mark("illustration", t)
    wall = time.perf_counter() - t0
    report = {"wall_s": round(wall, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
              "stage_s": stages, "clip": clip_id, "paths": paths}
    manifest = read_manifest(out) or {}
    manifest["demo"] = report
    atomic_write_json(manifest, out / MANIFEST)
    return report
