"""``audiointerp merge``: verify a run's units and write its tables and manifest."""

from __future__ import annotations

import argparse

HELP = "check that every unit of a (sharded) run is present and intact, then write its tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run folder (<output>/runs/<fingerprint>) or a results root holding one run",
    )


def run(args: argparse.Namespace) -> int:
    from audiointerp.experiments.grid.merge import merge_run

    merged = merge_run(args.run_dir)
    m = merged.manifest
    root = merged.run_dir.parent.parent
    print(
        f"{m['plan']['n_units']} units verified; {len(merged.table)} rows ({m['n_clips']} clips) "
        f"-> {root / 'results.csv'}"
    )
    print(f"per-mask CSVs: {root}/<model>/<method>_<condition>/csvs/<mask>.csv")
    print(
        f"manifest: {root / 'manifest.json'} ({len(m['sessions'])} session(s), "
        f"{m['total_wall_s']:.1f} worker-seconds, peak memory {m['peak_rss_mb']:.0f} MiB)"
    )
    return 0
