"""``audiointerp run``: run an experiment grid, or one shard of it (resumable)."""

from __future__ import annotations

import argparse

from audiointerp.commands import add_set_option

HELP = "run an experiment grid (models x conditions x methods x masks), or one shard of it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="experiment YAML, e.g. configs/experiment_default.yaml"
    )
    parser.add_argument(
        "--out", default=None, help="results root (overrides the config's `output`)"
    )
    add_set_option(parser, "methods.lime.n_samples=100")
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only shard I of N (0-based: units I::N) and leave the tables to "
        "`audiointerp merge`; e.g. --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads of this worker (default: torch's)"
    )
    parser.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="when another process runs the same grid (or shard) on the same output folder, "
        "wait up to SECONDS for it instead of stopping (-1: as long as it takes)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from audiointerp.config import parse_overrides
    from audiointerp.errors import ParameterError
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment
    from audiointerp.experiments.grid.units import ShardSpec

    overrides = parse_overrides(args.overrides)
    if args.out:
        overrides["output"] = args.out
    shard = ShardSpec.parse(args.shard) if args.shard else None
    if args.threads is not None and args.threads < 1:
        raise ParameterError(f"--threads must be >= 1, got {args.threads}")
    cfg = load_experiment(args.config, overrides)
    result = run_experiment(
        cfg,
        progress=not args.no_progress,
        shard=shard,
        wait_lock=None if args.wait_lock < 0 else args.wait_lock,
        threads=args.threads,
    )
    if not result.merged:
        print(
            f"shard {result.shard}: {result.units_computed} unit(s) computed, "
            f"{result.units_done} already complete, of {result.units_total} -> {result.run_dir}"
        )
        print(f"when every shard has finished: audiointerp merge {result.run_dir}")
        return 0
    m = result.manifest
    print(f"{len(result.table)} rows ({m['n_clips']} clips) -> {result.output / 'results.csv'}")
    print(f"per-mask CSVs: {result.output}/<model>/<method>_<condition>/csvs/<mask>.csv")
    print(
        f"manifest: {result.output / 'manifest.json'} "
        f"(wall {m['total_wall_s']:.1f} s, peak memory {m['peak_rss_mb']:.0f} MiB)"
    )
    return 0
