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
    src.add_argument(
        "--config",
        help="an experiment YAML: explain --clip exactly as its grid does (its models unless "
        "--weights names some of them)",
    )
    parser.add_argument(
        "--condition", default=None, help="with --config: the condition (default its first)"
    )
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
        help="registered methods (default: the config's, or the default set: saliency gradcam "
        "lime shap slice)",
    )
    parser.add_argument(
        "--masks",
        nargs="+",
        default=None,
        metavar="MASK",
        help="mask names (default: minmax bin topK_30)",
    )
    parser.add_argument("--out", default="supplementary/illustration", help="output folder")
    parser.add_argument(
        "--n-freq", type=int, default=None, help="frequency slices of the most-important-slice grid"
    )
    parser.add_argument(
        "--n-time", type=int, default=None, help="time slices of the most-important-slice grid"
    )
    parser.add_argument(
        "--lime-samples", type=int, default=300, help="without --config: LIME samples (paper 1000)"
    )
    parser.add_argument(
        "--route",
        default="phase",
        choices=("phase", "paper", "paper_nnls", "griffinlim"),
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

    from audiointerp.files import check_path_name

    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        out[check_path_name("--weights name", name)] = path  # a folder under --out
    return out


def run(args: argparse.Namespace) -> int:
    from audiointerp.experiments.interactive.illustrate import DEFAULT_MASKS, illustrate_clip

    config = None
    models: object = parse_weights(args.weights)
    if args.config:
        from audiointerp.experiments.grid.config import load_experiment

        config = load_experiment(args.config, {"device": args.device} if args.device else None)
        given = [w for w in args.weights if w != "weights/default_mel.pt"]
        models = [parse_weights([w]).popitem()[0] for w in given] or None
    ill = illustrate_clip(
        args.clip,
        models=models,
        config=config,
        condition=args.condition,
        out_dir=args.out,
        audio=args.audio,
        data=args.data,
        methods=args.methods,
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
        if c.unknown_class:
            truth = f", labelled {c.category} (not a class of this model)"
        print(
            f"{name}: {ill.clip_id} predicted {c.predicted_class} "
            f"(p={c.probs[c.prediction]:.3f}{truth})"
        )
        print(
            f"  figure: {res.figure_png} (+ .pdf); audio: {res.figure_png.parent / 'audio'}; "
            f"metrics: {res.metrics_csv}"
        )
        for note in res.notes:
            print(f"  note: {note}")
    print(f"listening page (self-contained): {ill.html}")
    return 0
