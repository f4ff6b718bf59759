"""``audiointerp evaluate``: accuracy and confusion matrix of a checkpoint on a data set.

Clips of classes the checkpoint was not trained on are counted, named and left out of the
accuracy (the same rule as everywhere: a prediction for such a clip cannot be right). The
selection options are those of ``audiointerp train`` (``--esc10``, ``--classes``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiointerp.commands.train import add_selection_options

HELP = "accuracy and confusion matrix of a trained classifier, on clean or noisy clips"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="checkpoint, e.g. weights/default_mel.pt")
    parser.add_argument(
        "--data", default="data/synth", help="data set folder (default: data/synth)"
    )
    parser.add_argument(
        "--folds", type=int, nargs="+", default=None, help="folds to evaluate (default: all)"
    )
    add_selection_options(parser)
    parser.add_argument(
        "--noise",
        default=None,
        help="mix in noise: white, room, event or any noise file (paper's mixing, or --snr-db)",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.6, help="clip weight of the paper's mixing (0.6)"
    )
    parser.add_argument(
        "--snr-db",
        type=float,
        default=None,
        help="mix --noise at this SNR (dB) instead of the paper's alpha mixing",
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
        snr_db=args.snr_db,
        esc10=args.esc10,
        classes=args.classes,
        batch_size=args.batch_size,
        device=args.device,
    )
    out = (
        Path(args.out)
        if args.out
        else Path("results/evaluate") / f"{Path(args.weights).stem}_{ev.condition}"
    )
    csv, png = write_confusion(ev.result.confusion, ev.classes, out / "confusion")
    folds = " ".join(map(str, args.folds)) if args.folds else "all"
    print(
        f"accuracy {100 * ev.result.accuracy:.1f}% on {len(ev.ids)} clips "
        f"(folds {folds}, condition {ev.condition}) of {args.data}"
    )
    if ev.excluded:
        names = ", ".join(f"{k} ({v})" for k, v in ev.excluded.items())
        print(
            f"left out: {sum(ev.excluded.values())} clip(s) of {len(ev.excluded)} class(es) the "
            f"model does not know: {names}"
        )
    print(f"confusion matrix: {csv} and {png}")
    return 0
