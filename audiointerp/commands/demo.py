"""``audiointerp demo``: the one-command demo (``make demo``).

Generates the synthetic benchmark and the noises if missing, runs the demo grid
(``configs/experiment_default.yaml``) with the committed weights, writes the tables, the
illustration and the listening page, and prints where everything is.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from audiointerp.commands import add_set_option

HELP = "one-command demo: benchmark, demo grid with the committed weights, tables, listening page"

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "configs" / "experiment_default.yaml"


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
    from audiointerp.experiments.config import load_experiment
    from audiointerp.experiments.demo import run_demo

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
