"""``audiointerp evaluate``: accuracy and confusion matrix of a checkpoint on a data set."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "accuracy and confusion matrix of a trained classifier, on clean or noisy clips"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="checkpoint, e.g. weights/default_mel.pt")
    parser.add_argument(
        "--data", default="data/synth", help="data set folder (default: data/synth)"
    )
    parser.add_argument(
        "--folds", type=int, nargs="+", default=None, help="folds to evaluate (default: all)"
    )
    parser.add_argument(
        "--noise",
        default=None,
        help="mix in noise with the paper's mixing: white, room, event or a noise file",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.6, help="clip weight of the paper's mixing (0.6)"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for confusion.csv/.png (default: results/evaluate/<weights>_<condition>)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="clips per forward pass")
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, ... (default: CUDA when available)"
    )


def run(args: argparse.Namespace) -> int:
    from audiointerp.models.evaluation import evaluate_checkpoint, write_confusion

    ev = evaluate_checkpoint(
        args.weights,
        args.data,
        folds=args.folds,
        noise=args.noise,
        alpha=args.alpha,
        batch_size=args.batch_size,
        device=args.device,
    )
    condition = Path(ev.condition).stem
    out = (
        Path(args.out)
        if args.out
        else Path("results/evaluate") / f"{Path(args.weights).stem}_{condition}"
    )
    csv, png = write_confusion(ev.result.confusion, ev.classes, out / "confusion")
    folds = " ".join(map(str, args.folds)) if args.folds else "all"
    print(
        f"accuracy {100 * ev.result.accuracy:.1f}% on {len(ev.ids)} clips "
        f"(folds {folds}, condition {ev.condition}) of {args.data}"
    )
    print(f"confusion matrix: {csv} and {png}")
    return 0
