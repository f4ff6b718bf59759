"""``audiointerp train``: train a classifier from a YAML config (resumes an interrupted run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from audiointerp.commands import add_set_option

HELP = "train a classifier from a config (restart the same command to resume an interrupted run)"


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """``--esc10`` and ``--classes``: which classes of the data set are used (train, evaluate)."""
    parser.add_argument(
        "--esc10", action="store_true", help="ESC-50 only: keep its ESC-10 subset (data.esc10)"
    )
    parser.add_argument(
        "--classes",
        nargs="+",
        default=None,
        metavar="CLASS",
        help="keep only these classes, numbered in this order (data.classes)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="training YAML, e.g. configs/default_mel.yaml"
    )
    parser.add_argument(
        "--out", default=None, help="run folder (default: results/runs/<config name>)"
    )
    parser.add_argument("--data", default=None, help="data set folder (overrides data.root)")
    add_selection_options(parser)
    parser.add_argument(
        "--epochs", type=int, default=None, help="number of epochs (overrides train.epochs)"
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, ... (default: CUDA when available)"
    )
    add_set_option(parser, "data.split='{valid: 0.15, test: 0.15, group_by: src_file}'")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress (bars on a terminal, lines in logs)"
    )


def run(args: argparse.Namespace) -> int:
    from audiointerp.config import parse_overrides
    from audiointerp.models import load_train_config, train

    overrides = parse_overrides(args.overrides)
    if args.data is not None:
        overrides["data.root"] = args.data
    if args.esc10:
        overrides["data.esc10"] = True
    if args.classes:
        overrides["data.classes"] = list(args.classes)
    if args.epochs is not None:
        overrides["train.epochs"] = args.epochs
    if args.device is not None:
        overrides["train.device"] = args.device
    cfg = load_train_config(args.config, overrides)
    out = Path(args.out) if args.out else Path("results/runs") / Path(args.config).stem
    d = cfg.data
    print(
        f"training on {d.root}: train {d.describe_split('train')}, validation "
        f"{d.describe_split('valid')}, test {d.describe_split('test')}; run folder {out}"
    )
    result = train(cfg, out, progress=not args.no_progress)
    m = result.metrics
    print(
        f"test accuracy {100 * m['test_accuracy']:.1f}% on {m['n_test']} clips "
        f"(best validation {100 * m['best_valid_accuracy']:.1f}% on {m['n_valid']} clips at "
        f"epoch {m['best_epoch']}/{m['epochs_run']}, {m['n_train']} training clips, "
        f"{m['train_seconds']:.0f} s of training)"
    )
    for message in m.get("split_warnings", []):
        print(f"warning: {message}")
    print(f"checkpoint: {result.checkpoint}")
    print(f"history, learning curve, confusion matrix, metrics: {result.out_dir}/")
    return 0
