"""``audiointerp info DIR``: inspect a data set before training on it."""

from __future__ import annotations

import argparse

HELP = "inspect a data set: layout, clips per class and fold, formats, unusable files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "root", help="data set folder (ESC-50, UrbanSound8K, folder) or manifest CSV"
    )
    parser.add_argument(
        "--layout", default="auto", choices=["auto", "esc50", "urbansound8k", "folder", "manifest"]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="read headers only (skips the NaN/Inf and silence checks)",
    )
    parser.add_argument("--esc10", action="store_true", help="ESC-50: only the ESC-10 subset")


def run(args: argparse.Namespace) -> int:
    from audiointerp.data.inspect import inspect_dataset

    report = inspect_dataset(
        args.root, layout=args.layout, check="header" if args.quick else "full", esc10=args.esc10
    )
    print(report.format())
    return 1 if report.problems else 0
