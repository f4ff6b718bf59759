"""``audiointerp tables``: the paper's tables (CSV, LaTeX, HTML) from a results folder."""

from __future__ import annotations

import argparse

HELP = (
    "render the paper's tables and figures (mean, 95 percent bootstrap CI, best/worst, "
    "Holm-corrected paired tests, baselines, deletion/insertion curves) from results"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        default="results",
        help="results folder of `audiointerp run` (or its results.csv)",
    )
    parser.add_argument(
        "--out", default="supplementary", help="output folder (default: supplementary)"
    )
    for key in ("models", "conditions", "methods", "masks"):
        parser.add_argument(
            f"--{key}",
            nargs="+",
            default=None,
            metavar=key[:-1].upper(),
            help=f"keep only these {key} (default: all in the results)",
        )
    parser.add_argument(
        "--n-resamples", type=int, default=1000, help="bootstrap resamples (default 1000)"
    )
    parser.add_argument("--confidence", type=float, default=0.95, help="CI coverage (default 0.95)")
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level (default 0.05)"
    )
    parser.add_argument(
        "--test",
        choices=("wilcoxon", "permutation"),
        default="wilcoxon",
        help="paired test of best vs runner-up over clip ids (default wilcoxon)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="bootstrap/permutation/selection seed (default 0)"
    )
    parser.add_argument(
        "--grid", default=None, help="keep only the rows of this grid (its config fingerprint)"
    )
    parser.add_argument(
        "--baselines",
        nargs="+",
        default=None,
        metavar="METHOD",
        help="methods every method is tested against (default: the reference methods present)",
    )
    parser.add_argument(
        "--selection",
        choices=("held-out", "same"),
        default="held-out",
        help="summary: choose each method's mask on one half of the clips and report the other "
        "(default), or on the same clips (exploratory)",
    )
    parser.add_argument(
        "--max-degenerate",
        type=float,
        default=0.05,
        help="share of degenerate masks above which a row is never best (default 0.05)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from audiointerp.experiments.reporting import tablefmt
    from audiointerp.experiments.reporting.tables import write_tables

    out = write_tables(
        args.results,
        args.out,
        models=args.models,
        conditions=args.conditions,
        methods=args.methods,
        masks=args.masks,
        n_resamples=args.n_resamples,
        confidence=args.confidence,
        alpha=args.alpha,
        test=args.test,
        seed=args.seed,
        grid=args.grid,
        baselines=args.baselines,
        selection=args.selection,
        max_degenerate=args.max_degenerate,
        plots=not args.no_plots,
        progress=False if args.no_progress else None,
    )
    summary = out.tables["summary"]
    text, _, _ = tablefmt.format_table(summary, markers=True)
    print("Summary (each method at its best mask; ▲ best, ▼ worst, * significant, Holm):")
    print(text.to_string())
    for note in summary.notes:
        print(note)
    print(
        f"\n{len(out.files)} files: {out.html.parent / 'tables'}/<table>.{{csv,tex}}, "
        f"<table>_formatted.csv"
    )
    if out.figures:
        print(f"figures: {out.html.parent / 'tables' / 'figures'}/<name>.{{png,pdf}}")
    print(f"HTML page: {out.html}")
    return 0
