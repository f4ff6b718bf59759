"""``audiointerp interpret``: explain one clip with one or more methods; figure, audio, metrics.

Two sources, one core:

- ``--config EXPERIMENT.yaml --clip ID`` explains a clip of the experiment's data exactly as
  its grid does (same model, method options, training context, seed, condition, batch size and
  resynthesis route): ``metrics.json`` holds the grid's rows for that clip.
- ``--audio FILE --weights W [--data DIR]`` explains any file; methods that need training data
  take it from ``DIR``'s training folds, and say so when they fall back without it.

Per method, under ``<out>/<method>/``: ``figure.png``, ``metrics.json`` and ``audio/`` with the
model's input, every mask's masked-in/out audio and the most important slice.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from audiointerp.commands import add_set_option

HELP = "explain one clip (an experiment's, or any file): figure, masked audio, metrics JSON"

log = logging.getLogger(__name__)

UNITS = {"FF": "prob", "AI": "%", "AD": "%", "AG": "%", "FidIn": "0/1", "SPS": "[0,1]",
         "COMP": "nats", "si_sdr": "dB", "si_sdri": "dB"}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="an audio file (any rate/format), e.g. samples/audio/*.flac")
    src.add_argument("--config", help="an experiment YAML: explain --clip as its grid does")
    parser.add_argument("--clip", default=None, help="with --config: clip id or file name")
    parser.add_argument(
        "--model", default=None, help="with --config: which of its models (default the first)"
    )
    parser.add_argument(
        "--condition", default=None, help="with --config: which condition (default the first)"
    )
    parser.add_argument(
        "--weights", default="weights/default_mel.pt", help="with --audio: classifier checkpoint"
    )
    parser.add_argument(
        "--data", default=None, help="with --audio: a data set whose training folds give context"
    )
    parser.add_argument(
        "--method",
        nargs="+",
        default=["saliency"],
        metavar="METHOD",
        help="one or more registered methods (saliency gradcam lime shap slice ig ...)",
    )
    parser.add_argument(
        "--masks", nargs="+", default=None, metavar="MASK", help="mask names (default all 14)"
    )
    parser.add_argument(
        "--out", default=None, help="output folder (default results/interpret/<clip>)"
    )
    parser.add_argument(
        "--target", default=None, help="class to explain, name or index (default: predicted)"
    )
    parser.add_argument(
        "--duration-s",
        type=float,
        default=None,
        help="with --audio: crop/pad to this many seconds (0 keeps its length; default: the "
        "model's clip length, else 5)",
    )
    parser.add_argument(
        "--route",
        default="phase",
        help="with --audio: resynthesis route (phase, paper, griffinlim)",
    )
    add_set_option(parser, "lime.n_samples=200")
    parser.add_argument("--seed", type=int, default=0, help="with --audio: seed of LIME/SHAP")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if present)")


def resolve_class(target: str | None, classes: list[str]) -> int | None:
    """Class index from a name or an index string (None stays None)."""
    from audiointerp.validation import check_choice

    if target is None:
        return None
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    return classes.index(check_choice("--target", target, classes))


def method_overrides(items: list[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    """``--set lime.n_samples=200`` -> ``{"lime": {"n_samples": 200}}`` (a bare key applies to
    every method given)."""
    from audiointerp.config import parse_overrides
    from audiointerp.errors import ParameterError

    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for key, value in parse_overrides(items).items():
        method, sep, option = key.partition(".")
        if not sep:
            for m in methods:
                out[m][key] = value
        elif method in out:
            out[method][option] = value
        else:
            raise ParameterError(f"--set {key}: {method!r} is not one of --method {methods}")
    return out


def _explainer(args: argparse.Namespace, overrides: dict[str, dict[str, Any]]):
    from audiointerp.experiments.interactive.clip import ClipExplainer

    if args.config:
        from audiointerp.errors import ParameterError
        from audiointerp.experiments.grid.config import load_experiment
        from audiointerp.experiments.grid.session import ExperimentSession

        if not args.clip:
            raise ParameterError("--config needs --clip ID (a clip id or file name of its data)")
        cfg = load_experiment(args.config, {"device": args.device} if args.device else None)
        model = args.model or next(iter(cfg.models))
        missing = sorted(set(args.method) - set(cfg.methods))
        if missing:
            log.warning("methods %s are not in %s: default options are used", missing, args.config)
        session = ExperimentSession(cfg)
        explainer = ClipExplainer.from_session(session, model, condition=args.condition)
        for m, opts in overrides.items():
            if opts:
                explainer.method_options[m] = {**explainer.options(m), **opts}
        return explainer, explainer.analyze_experiment_clip(args.clip), cfg.models[model]
    from audiointerp.data.io import load_audio
    from audiointerp.models import load_classifier

    clf = load_classifier(args.weights, device=args.device)
    if args.duration_s is None:  # crop/pad to what the model was trained on
        args.duration_s = clf.duration_s or 5.0
    explainer = ClipExplainer.from_folder(
        clf,
        args.data,
        duration_s=args.duration_s or None,
        method_options=overrides,
        seed=args.seed,
        route=args.route,
    )
    wave = load_audio(args.audio, sr=clf.frontend.sr, duration_s=args.duration_s or None)
    return explainer, explainer.analyze(wave, clip_id=Path(args.audio).stem), args.weights


def save_figure(
    path: Path,
    features: np.ndarray,
    attributions: np.ndarray,
    masked: dict[str, np.ndarray],
    *,
    hz: np.ndarray,
    seconds: float,
    title: str,
    floor_db: float = -100.0,
) -> None:
    """Spectrogram, attribution (diverging, centred at 0) and masked-in spectrograms.

    Input and masked panels share one dB scale reaching 60 dB below the input's minimum (or
    the floor), so a soft mask that scales the input down shows darker, not rescaled.
    """
    from matplotlib.figure import Figure

    from audiointerp.experiments.interactive.figures import set_hz_axis

    db = (max(floor_db, float(features.min()) - 60.0), float(features.max()))
    panels = [("input (dB)", features, "magma", db)]
    lim = float(np.abs(attributions).max()) or 1.0
    panels.append(("attribution", attributions, "RdBu_r", (-lim, lim)))
    panels += [(f"masked-in: {n}", m, "magma", db) for n, m in masked.items()]
    cols = 4
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4 * cols, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    extent = (0.0, seconds, -0.5, features.shape[0] - 0.5)
    for ax, (name, img, cmap, clim) in zip(axes.flat, panels, strict=False):
        vmin, vmax = clim
        im = ax.imshow(
            img, origin="lower", aspect="auto", cmap=cmap, extent=extent, vmin=vmin, vmax=vmax
        )
        ax.set_title(name, fontsize=9)
        set_hz_axis(ax, hz)
        ax.set_xlabel("time (s)")
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None  # strict JSON has no NaN/Inf
    return v


def run(args: argparse.Namespace) -> int:
    from audiointerp.data.io import write_audio

    methods = list(dict.fromkeys(args.method))
    explainer, clip, weights = _explainer(args, method_overrides(args.overrides, methods))
    clf = explainer.classifier
    frontend, classes = clf.frontend, clf.classes
    target = resolve_class(args.target, classes)
    root = Path(args.out) if args.out else Path("results") / "interpret" / clip.clip_id
    c = clip.prediction if target is None else target
    predicted = classes[clip.prediction]
    if clip.unknown_class:
        print(
            f"note: {clip.clip_id} is labelled {clip.category!r}, which is not one of the model's "
            f"classes; the prediction {predicted!r} cannot be right"
        )
    for note in explainer.context.notes:
        print(f"note: {note}")
    for method in methods:
        out = root / method
        explained = explainer.explain(clip, method, masks=args.masks, target=target)
        first = next(iter(explained.values()))
        audio_dir = out / "audio"
        write_audio(audio_dir / "input.wav", clip.wave, clip.sr)
        report: dict[str, Any] = {
            "clip": clip.clip_id,
            "source": args.audio or args.config,
            "weights": str(weights),
            "sha256": clf.sha256,
            "condition": explainer.condition if explainer.session is not None else None,
            "method": method,
            "options": first.options,
            "context_notes": list(explainer.context.notes),
            "label": clip.category,
            "label_known_to_model": not clip.unknown_class,
            "predicted": predicted,
            "target": classes[c],
            "p_target": float(clip.probs[c]),
            "probs": {k: float(v) for k, v in zip(classes, clip.probs.tolist(), strict=True)},
            "units": UNITS,
            "masks": {},
        }
        for name, ex in explained.items():
            report["masks"][name] = {k: _json_value(v) for k, v in ex.metrics.items()}
            for kind, y in (("in", ex.audio_in), ("out", ex.audio_out)):
                write_audio(audio_dir / f"{name}_{kind}.wav", y, clip.sr, subtype="FLOAT")
        (f0, f1), (t0, t1) = first.rect
        write_audio(audio_dir / "slice_best.wav", first.rect_audio, clip.sr, subtype="FLOAT")
        edges = frontend.band_edges_hz()  # (F + 1,) row boundaries
        times = frontend.frame_times_s(clip.features.shape[-1] + 1)
        report["slice"] = {
            "freq_bins": [f0, f1],
            "frames": [t0, t1],
            "hz": [float(edges[f0]), float(edges[f1])],
            "seconds": [float(times[t0]), float(times[t1])],
            "own": bool(first.details.get("drops") is not None),
        }
        if "drops" in first.details:
            report["slice"]["drops"] = np.asarray(first.details["drops"]).tolist()
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
        save_figure(
            out / "figure.png",
            clip.features[0, 0].cpu().numpy(),
            first.attribution,
            {n: ex.masked_in for n, ex in explained.items()},
            hz=frontend.bin_frequencies_hz(),
            seconds=len(clip.wave) / clip.sr,
            title=f"{clip.clip_id}: {method} for {classes[c]!r} (p={float(clip.probs[c]):.2f})",
            floor_db=frontend.floor_db,
        )
        print(f"{clip.clip_id}: predicted {predicted}, explained {classes[c]} "
              f"(p={report['p_target']:.3f}) with {method}")  # fmt: skip
        for name, row in report["masks"].items():
            print(f"  {name:14s} FF {row['FF']:+.3f}  AI {row['AI']:5.1f}  AD {row['AD']:5.1f}  "
                  f"AG {row['AG']:5.1f}  FidIn {row['FidIn']:.0f}  SPS {row['SPS']:.3f}  "
                  f"COMP {row['COMP']:.2f}")  # fmt: skip
        sl = report["slice"]
        print(f"  most important slice: {sl['seconds'][0]:.2f}-{sl['seconds'][1]:.2f} s, "
              f"{sl['hz'][0]:.0f}-{sl['hz'][1]:.0f} Hz")  # fmt: skip
        print(f"wrote {out / 'figure.png'}, {out / 'metrics.json'}, {audio_dir}/")
    return 0
