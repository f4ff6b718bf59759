"""``audiointerp fit``: fit a learned interpreter for one frozen classifier (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

from audiointerp.commands import add_set_option

HELP = (
    "fit a learned interpreter (lmac, lmac_ft, l2i, piq, nmf) for a classifier; rerun the same "
    "command to resume an interrupted fit"
)

ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, help="lmac, lmac_ft, l2i, piq or nmf")
    parser.add_argument(
        "--weights", required=True, help="the classifier checkpoint, e.g. weights/default_mel.pt"
    )
    parser.add_argument("--data", default=None, help="data set folder (overrides data.root)")
    parser.add_argument(
        "--config",
        default=None,
        help="fit YAML (default: configs/interpreters/<method>.yaml when it exists)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="interpreter checkpoint (default: weights/<method>_<classifier stem>.pt)",
    )
    parser.add_argument(
        "--init",
        default=None,
        help="start from this fitted checkpoint of the same classifier (L-MAC FT from L-MAC)",
    )
    parser.add_argument(
        "--work", default=None, help="resume folder (default: results/runs/fit/<out stem>)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="overrides fit.epochs")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA if present)")
    add_set_option(parser, "fit.epochs=5")
    parser.add_argument(
        "--no-card", action="store_true", help="do not write the model card <out>.md"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def default_config(method: str) -> Path | None:
    """``configs/interpreters/<method>.yaml`` of the repository, if it exists."""
    path = ROOT / "configs" / "interpreters" / f"{method}.yaml"
    return path if path.is_file() else None


def run(args: argparse.Namespace) -> int:
    from audiointerp.config import parse_overrides
    from audiointerp.interpretation.learned.fitconfig import load_fit_config
    from audiointerp.interpretation.learned.fitting import fit_interpreter, interpreter_class
    from audiointerp.models import load_classifier

    interpreter_class(args.method)  # an unknown or unfittable method fails before loading
    overrides = parse_overrides(args.overrides)
    if args.data is not None:
        overrides["data.root"] = args.data
    if args.epochs is not None:
        overrides["fit.epochs"] = args.epochs
    if args.device is not None:
        overrides["fit.device"] = args.device
    if args.init is not None:
        overrides["init"] = args.init
    config = args.config or default_config(args.method)
    cfg = load_fit_config(config, overrides)
    classifier = load_classifier(args.weights, device=cfg.fit.device)
    out = Path(args.out or f"weights/{args.method}_{Path(args.weights).stem}.pt")
    result = fit_interpreter(
        args.method,
        classifier,
        cfg,
        out,
        work_dir=args.work,
        progress=not args.no_progress,
    )
    clean = result.validation.get("clean", {})
    shown = ", ".join(f"{k} {v:.3g}" for k, v in clean.items())
    print(f"fitted {args.method} for {args.weights} in {result.fit_seconds:.0f} s")
    print(f"validation (clean, native mask): {shown}")
    print(f"checkpoint: {out}")
    if not args.no_card:
        import shlex
        import sys

        from audiointerp.interpretation.learned.card import write_model_card

        command = "audiointerp " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        print(f"model card: {write_model_card(out, command=command)}")
    return 0
