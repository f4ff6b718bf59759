"""``audiointerp run``: run an experiment grid (resumable) and write its tables."""

from __future__ import annotations

import argparse

from audiointerp.commands import add_set_option

HELP = "run an experiment grid (models x conditions x methods x masks) and write its results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="experiment YAML, e.g. configs/experiment_default.yaml"
    )
    parser.add_argument(
        "--out", default=None, help="results root (overrides the config's `output`)"
    )
    add_set_option(parser, "methods.lime.n_samples=100")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from audiointerp.config import parse_overrides
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment

    overrides = parse_overrides(args.overrides)
    if args.out:
        overrides["output"] = args.out
    cfg = load_experiment(args.config, overrides)
    result = run_experiment(cfg, progress=not args.no_progress)
    m = result.manifest
    print(f"{len(result.table)} rows ({m['n_clips']} clips) -> {result.output / 'results.csv'}")
    print(f"per-mask CSVs: {result.output}/<model>/<method>_<condition>/csvs/<mask>.csv")
    print(
        f"manifest: {result.output / 'manifest.json'} "
        f"(wall {m['total_wall_s']:.1f} s, peak memory {m['peak_rss_mb']:.0f} MiB)"
    )
    return 0
