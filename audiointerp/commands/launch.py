"""``audiointerp launch``: run a grid as N shards through submitit (Slurm or local), then merge."""

from __future__ import annotations

import argparse

from audiointerp.commands import add_set_option

HELP = "run a grid as N shard jobs (Slurm job array or local processes), wait, then merge"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML")
    parser.add_argument("--out", default=None, help="results root (overrides `output`)")
    add_set_option(parser, "data.n_clips=50")
    parser.add_argument("--shards", type=int, required=True, help="number of shards N")
    parser.add_argument(
        "--executor",
        choices=("auto", "local", "slurm"),
        default="auto",
        help="auto: Slurm where srun exists, local processes otherwise (default)",
    )
    parser.add_argument("--slurm-partition", default=None, help="Slurm partition")
    parser.add_argument(
        "--gpus-per-task",
        type=int,
        default=None,
        help="GPUs per shard job (Slurm: requested; local: 0 keeps the workers on the CPU, "
        "default: every GPU of the machine, shards spread over them)",
    )
    parser.add_argument(
        "--cpus-per-task",
        type=int,
        default=None,
        help="CPU cores per job, also its thread cap (default: local, the cores divided among "
        "the shards; Slurm, 2)",
    )
    parser.add_argument(
        "--timeout-min", type=int, default=240, help="wall-time limit per job in minutes"
    )
    parser.add_argument("--mem-gb", type=float, default=None, help="memory per job")
    parser.add_argument(
        "--array-parallelism", type=int, default=None, help="most shards running at once (Slurm)"
    )
    parser.add_argument(
        "--slurm-setup",
        action="append",
        default=[],
        metavar="LINE",
        help="shell line run before each Slurm job, e.g. 'source .venv/bin/activate'; repeatable",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the jobs are submitted (then `audiointerp merge RUN_DIR`)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from audiointerp.config import parse_overrides
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.launch import LaunchOptions, launch_grid

    overrides = parse_overrides(args.overrides)
    if args.out:
        overrides["output"] = args.out
    opts = LaunchOptions(
        shards=args.shards,
        executor=args.executor,
        slurm_partition=args.slurm_partition,
        gpus_per_task=args.gpus_per_task,
        cpus_per_task=args.cpus_per_task,
        timeout_min=args.timeout_min,
        mem_gb=args.mem_gb,
        array_parallelism=args.array_parallelism,
        slurm_setup=list(args.slurm_setup),
        wait=not args.no_wait,
        progress=not args.no_progress,
    )
    cfg = load_experiment(args.config, overrides)
    res = launch_grid(cfg, opts)
    n = opts.shards
    if res.submitted:
        print(f"submitted {len(res.submitted)} of {n} shard(s): " + ", ".join(
            f"{j['shard']} (job {j['job_id']}, log {j['log']})" for j in res.jobs
        ))  # fmt: skip
    elif not res.running:
        print(f"no shard of {n} has work left")
    if res.running:
        print(
            "not resubmitted, still running or queued from an earlier launch: "
            + ", ".join(f"{i}/{n}" for i in res.running)
        )
    if res.merged is None:
        print(f"when the jobs have finished: audiointerp merge {res.run_dir}")
        return 0
    m = res.merged.manifest
    out = res.run_dir.parent.parent
    print(f"{len(res.merged.table)} rows ({m['n_clips']} clips) -> {out / 'results.csv'}")
    print(f"per-mask CSVs: {out}/<model>/<method>_<condition>/csvs/<mask>.csv")
    print(f"manifest: {out / 'manifest.json'}")
    return 0
