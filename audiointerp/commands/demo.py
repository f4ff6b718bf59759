"""``audiointerp demo``: the one-command demo (``make demo``).

Generates the synthetic benchmark and the noises if missing, runs the demo grid
(``configs/experiment_default.yaml``) with the committed weights, writes the tables, the
illustration and the listening page (which explains its clip exactly as the grid's rows do),
and prints where everything is. Each step is skipped when its output exists (the grid resumes
unit by unit), so running the demo again after an interruption finishes it.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiointerp.commands import add_set_option

if TYPE_CHECKING:
    from audiointerp.experiments.grid.config import ExperimentConfig

HELP = "one-command demo: benchmark, demo grid with the committed weights, tables, listening page"

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "configs" / "experiment_default.yaml"
# More single-threaded shards than this cost more memory (each loads the models and the
# methods' training context) than they save on the demo's small grid.
MAX_SHARDS = 8

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default="data/synth", help="benchmark folder (generated if missing)"
    )
    parser.add_argument("--out", default="results", help="results root")
    parser.add_argument(
        "--supplementary",
        default="supplementary",
        help="folder for the tables, the figure and the listening page",
    )
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="the demo grid")
    parser.add_argument("--noises", default=None, help="noise folder (default: the config's)")
    add_set_option(parser, "data.n_clips=20")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from audiointerp.commands.synth import summarize
    from audiointerp.config import parse_overrides
    from audiointerp.experiments.grid.config import load_experiment

    overrides = parse_overrides(args.overrides)
    overrides.update({"data.root": args.data, "output": args.out})
    if args.noises:
        overrides["noises_dir"] = args.noises
    cfg = load_experiment(args.config, overrides)
    t0 = time.perf_counter()
    report = run_demo(cfg, supplementary=args.supplementary, progress=not args.no_progress)
    print(f"\nbenchmark {cfg.data.root}:\n{summarize(cfg.data.root)}")
    print(
        f"\naudiointerp demo finished in {time.perf_counter() - t0:.0f} s "
        f"(peak memory {report['peak_rss_mb']:.0f} MiB)"
    )
    width = max(len(k) for k in report["paths"])
    for what, where in report["paths"].items():
        print(f"  {what:<{width}}  {where}")
    return 0


def ensure_benchmark(root: str | Path, *, seed: int = 0, progress: bool = True) -> Path:
    """Generate the synthetic benchmark under ``root`` unless it is already complete."""
    root = Path(root)
    if (root / "meta" / "esc50.csv").is_file():
        return root
    from audiointerp.data.synth import generate_benchmark

    log.info("generating the synthetic benchmark in %s", root)
    return generate_benchmark(root, seed=seed, progress=progress)


def ensure_noises(folder: str | Path, names: tuple[str, ...] | None = None) -> Path:
    """Write the condition noises into ``folder`` unless they exist (committed in ``noises/``)."""
    from audiointerp.data.mixing import NOISE_NAMES

    names = NOISE_NAMES if names is None else names
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


def run_in_shards(cfg: ExperimentConfig, *, shards: int, progress: bool = True) -> Any:
    """Run the grid as ``shards`` single-threaded local shard jobs, then merge.

    On a small CPU, two processes with one thread each finish the grid faster than one process
    with two threads: the per-clip forward passes are small, and intra-op threads spend much of
    their time waiting at barriers. The shards are those of ``audiointerp launch --executor
    local`` (submitit local processes over the grid's canonical units), so the merged table is
    the one a single process writes.

    Returns
    -------
    LaunchResult
        With the merged table and each worker's peak memory (``worker_results``).
    """
    from audiointerp.experiments.grid.launch import LaunchOptions, launch_grid

    opts = LaunchOptions(
        shards=shards, executor="local", cpus_per_task=1, gpus_per_task=0, progress=progress
    )
    return launch_grid(cfg, opts)


def demo_shards() -> int:
    """Shards of the demo grid on this CPU: one per core, at most :data:`MAX_SHARDS`."""
    import os

    return max(1, min(os.cpu_count() or 1, MAX_SHARDS))


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
        On CPU, one single-threaded shard per core (:func:`run_in_shards`).

    Returns
    -------
    dict
        ``paths`` (what -> where), ``wall_s`` and ``peak_rss_mb`` (also written to the
        manifest under ``demo``).
    """
    from audiointerp.experiments.grid.conditions import parse_condition
    from audiointerp.experiments.grid.manifest import peak_rss_mb, read_manifest
    from audiointerp.experiments.grid.runner import run_experiment
    from audiointerp.experiments.grid.store import MANIFEST, atomic_write_json

    t0 = time.perf_counter()
    stages: dict[str, float] = {}

    def mark(name: str, since: float) -> float:
        now = time.perf_counter()
        stages[name] = round(now - since, 2)
        return now

    t = t0
    ensure_benchmark(cfg.data.root, progress=progress)
    conds = [parse_condition(c, cfg.noise_files) for c in cfg.conditions]
    noise_names = tuple(sorted({c.noise for c in conds if c.noise and c.file is None}))
    if noise_names:
        ensure_noises(cfg.noises_dir, noise_names)
    t = mark("data", t)
    worker_peaks: list[float] = []
    import torch

    if parallel and demo_shards() > 1 and not torch.cuda.is_available():
        launched = run_in_shards(cfg, shards=demo_shards(), progress=progress)
        table = launched.merged.table
        worker_peaks = [float(w.get("peak_rss_mb", 0.0)) for w in launched.worker_results]
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
    from audiointerp.experiments.reporting.tables import write_tables

    tables = write_tables(out, supp)
    paths["tables (HTML)"] = str(tables.html)
    paths["tables (CSV, LaTeX)"] = str(Path(tables.files[0]).parent) if tables.files else str(supp)
    t = mark("tables", t)
    clip_id = pick_clip(table)
    # The listening page explains the clip exactly as the grid's clean rows do.
    from audiointerp.experiments.interactive.illustrate import DEFAULT_MASKS, illustrate_clip

    scored = cfg.masks or DEFAULT_MASKS
    masks = [m for m in DEFAULT_MASKS if m in scored] or list(scored[:3])
    ill = illustrate_clip(
        clip_id,
        config=cfg,
        condition=cfg.conditions[0],
        masks=masks,
        out_dir=supp / "illustration",
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
