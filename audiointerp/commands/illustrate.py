"""``audiointerp illustrate``: figure, audio and a listening page for one clip."""

from __future__ import annotations

import argparse

HELP = (
    "illustrate one clip: paper-style figure (Hz axis), masked audio, self-contained listening page"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        nargs="+",
        default=["weights/default_mel.pt"],
        metavar="W",
        help="classifier checkpoint(s); NAME=PATH names a model (default: the mel model)",
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="an audio file (any rate/format)")
    src.add_argument("--data", help="a data set folder (ESC-50 layout, e.g. data/synth)")
    parser.add_argument(
        "--clip",
        default=None,
        help="clip id or file name in --data (default: a random clip, see --seed)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="METHOD",
        help="saliency gradcam lime shap slice ig (default: all but ig)",
    )
    parser.add_argument(
        "--masks",
        nargs="+",
        default=None,
        metavar="MASK",
        help="mask names (default: minmax bin topK_30)",
    )
    parser.add_argument("--out", default="supplementary/illustration", help="output folder")
    parser.add_argument("--n-freq", type=int, default=3, help="frequency slices of the slice grid")
    parser.add_argument("--n-time", type=int, default=3, help="time slices of the slice grid")
    parser.add_argument("--lime-samples", type=int, default=300, help="LIME samples (paper: 1000)")
    parser.add_argument(
        "--route",
        default="phase",
        choices=("phase", "paper", "griffinlim"),
        help="resynthesis route (default phase)",
    )
    parser.add_argument(
        "--duration-s",
        type=float,
        default=5.0,
        help="crop/pad the clip to this many seconds (0 keeps its length)",
    )
    parser.add_argument("--dpi", type=int, default=200, help="PNG resolution (default 200)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random clip and of LIME/SHAP"
    )
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if present)")


def parse_weights(items: list[str]) -> dict[str, str]:
    """``["mel=weights/a.pt", "weights/b.pt"]`` -> ``{"mel": ..., "b": ...}``."""
    from pathlib import Path

    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        out[name] = path
    return out


def run(args: argparse.Namespace) -> int:
    from audiointerp.experiments.illustrate import DEFAULT_MASKS, DEFAULT_METHODS, illustrate_clip

    ill = illustrate_clip(
        args.clip,
        models=parse_weights(args.weights),
        out_dir=args.out,
        audio=args.audio,
        data=args.data,
        methods=args.methods or DEFAULT_METHODS,
        masks=args.masks or DEFAULT_MASKS,
        method_options={"lime": {"n_samples": args.lime_samples}},
        n_freq=args.n_freq,
        n_time=args.n_time,
        route=args.route,
        duration_s=args.duration_s or None,
        dpi=args.dpi,
        seed=args.seed,
        device=args.device,
    )
    for name, res in ill.models.items():
        c = res.clip
        truth = f", true {c.true_class}" if c.true_class else ""
        print(
            f"{name}: {ill.clip_id} predicted {c.predicted_class} "
            f"(p={c.probs[c.prediction]:.3f}{truth})"
        )
        print(
            f"  figure: {res.figure_png} (+ .pdf); audio: {res.figure_png.parent / 'audio'}; "
            f"metrics: {res.metrics_csv}"
        )
    print(f"listening page (self-contained): {ill.html}")
    return 0
