"""``audiointerp interpret``: explain clips with one or more methods; figures, audio, metrics.

Two sources, one core, the model loaded once:

- ``--config EXPERIMENT.yaml --clip ID [ID ...]`` explains clips of the experiment's data
  exactly as its grid does (same model, method options, training context, seed, condition,
  batch size and resynthesis route): ``metrics.json`` holds the grid's rows for each clip.
- ``--audio FILE_OR_FOLDER [...] --weights W [--data DIR]`` explains any files (a folder: every
  audio file under it); methods that need training data take it from ``DIR``'s training
  folds, and say so when they fall back without it. A file that belongs to ``DIR`` gets its
  label from there (a label the model does not know is said so everywhere).

Per clip and method, under ``results/interpret/<clip>/<method>/`` (``--out DIR``: ``DIR/<method>``
for one clip, ``DIR/<clip>/<method>`` for several): ``figure.png``, ``metrics.json`` and
``audio/`` with the model's input, every mask's masked-in/out audio and the most important
slice, all scaled by one gain per clip so that nothing clips (the gain is in ``metrics.json``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from audiointerp.commands import add_set_option

HELP = "explain clips (an experiment's, or any files or folders): figures, masked audio, metrics"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--audio",
        nargs="+",
        metavar="FILE",
        help="audio files or folders of them (any rate/format), e.g. samples/audio",
    )
    src.add_argument("--config", help="an experiment YAML: explain --clip as its grid does")
    parser.add_argument(
        "--clip", nargs="+", default=None, metavar="ID", help="with --config: clip ids/file names"
    )
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
        "--data",
        default=None,
        help="with --audio: a data set whose training folds give context (and labels to its files)",
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
        "--out",
        default=None,
        help="output folder (default results/interpret/<clip>; with several clips, one "
        "subfolder per clip)",
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
        help="with --audio: resynthesis route (phase, paper, paper_nnls, griffinlim)",
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


def audio_files(items: list[str]) -> list[Path]:
    """Files and folders (every audio file under them, sorted) -> audio files, in order given."""
    from audiointerp.data.io import AUDIO_SUFFIXES
    from audiointerp.errors import AudioFileError

    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
            )
            if not found:
                raise AudioFileError(
                    f"--audio {item}: the folder holds no audio file ({', '.join(AUDIO_SUFFIXES)})"
                )
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise AudioFileError(f"--audio {item}: no such file or folder")
    return list(dict.fromkeys(out))


def clip_ids(files: list[Path]) -> list[str]:
    """A name per file: its stem, with its folder's name in front where stems repeat."""
    stems = [f.stem for f in files]
    ids = [f"{f.parent.name}-{f.stem}" if stems.count(f.stem) > 1 else f.stem for f in files]
    if len(set(ids)) < len(ids):
        from audiointerp.errors import ParameterError

        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ParameterError(f"--audio: several files would share the output folder {twice}")
    return ids


def _explainer(args: argparse.Namespace, overrides: dict[str, dict[str, Any]]):
    """The clip explainer and a generator of the clips to explain (the model loaded once)."""
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
        clips = (explainer.analyze_experiment_clip(c) for c in args.clip)
        return explainer, clips, len(args.clip), cfg.models[model]
    from audiointerp.data.io import load_audio
    from audiointerp.models import load_classifier

    if args.clip:
        from audiointerp.errors import ParameterError

        raise ParameterError("--clip goes with --config; with --audio, name the files")
    files = audio_files(args.audio)
    ids = clip_ids(files)
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
    labels = _labels_from(args.data, files, clf.frontend.sr)

    def clips():
        for path, clip_id in zip(files, ids, strict=True):
            wave = load_audio(path, sr=clf.frontend.sr, duration_s=args.duration_s or None)
            yield explainer.analyze(wave, clip_id=clip_id, category=labels.get(path))

    return explainer, clips(), len(files), args.weights


def _labels_from(data: str | None, files: list[Path], sr: int) -> dict[Path, str]:
    """The class of each file that belongs to the data set ``data`` (looked up by path)."""
    if data is None:
        return {}
    from audiointerp.data import open_dataset
    from audiointerp.errors import DatasetError

    try:
        ds = open_dataset(data, sr=sr, duration_s=None, on_error="skip")
    except DatasetError as exc:
        log.info("%s: no labels for the files (%s)", data, exc)
        return {}
    by_path = {c.path.resolve(): c.category for c in ds.clips}
    return {f: by_path[f.resolve()] for f in files if f.resolve() in by_path}


def run(args: argparse.Namespace) -> int:
    from audiointerp.experiments.interactive.listening import listening_gain
    from audiointerp.experiments.interactive.report import write_interpretation

    methods = list(dict.fromkeys(args.method))
    explainer, clips, n_clips, weights = _explainer(args, method_overrides(args.overrides, methods))
    classes = explainer.classifier.classes
    target = resolve_class(args.target, classes)
    for note in explainer.context.notes:
        print(f"note: {note}")
    for k, clip in enumerate(clips, start=1):
        if args.out:
            root = Path(args.out) / (clip.clip_id if n_clips > 1 else "")
        else:
            root = Path("results") / "interpret" / clip.clip_id
        c = clip.prediction if target is None else target
        print(
            f"[{k}/{n_clips}] {clip.clip_id}: predicted {clip.predicted_class} "
            f"(p={clip.probs[clip.prediction]:.3f}); explaining {classes[c]!r} with "
            f"{', '.join(methods)}"
        )
        if clip.label_note:
            print(f"  note: {clip.clip_id} is {clip.label_note}")
        explained = {
            m: explainer.explain(clip, m, masks=args.masks, target=target) for m in methods
        }
        # One gain for every file of the clip (input, every method's versions): nothing clips.
        gain = listening_gain(
            clip.wave,
            *(y for ex in explained.values() for e in ex.values() for y in _versions(e)),
        )
        for method, by_mask in explained.items():
            out = root / method
            report = write_interpretation(
                out,
                explainer,
                clip,
                method,
                by_mask,
                gain=gain,
                target=c,
                source=str(args.config or clip.clip_id),
                weights=str(weights),
            )
            print(f"  {method}:")
            for name, row in report["masks"].items():
                # SPS/COMP of an empty mask are undefined (None in the JSON): printed as "-"
                sps, comp = (f"{row[k]:{f}}" if row[k] is not None else "-"
                             for k, f in (("SPS", ".3f"), ("COMP", ".2f")))  # fmt: skip
                print(f"    {name:14s} FF {row['FF']:+.3f}  AI {row['AI']:5.1f}  "
                      f"AD {row['AD']:5.1f}  AG {row['AG']:5.1f}  FidIn {row['FidIn']:.0f}  "
                      f"SPS {sps}  COMP {comp}")  # fmt: skip
            sl = report["slice"]
            print(f"    most important slice: {sl['seconds'][0]:.2f}-{sl['seconds'][1]:.2f} s, "
                  f"{sl['hz'][0]:.0f}-{sl['hz'][1]:.0f} Hz")  # fmt: skip
            print(f"    wrote {out / 'figure.png'}, {out / 'metrics.json'}, {out / 'audio'}/")
        print(f"  audio scaled by {gain:.3f} (one gain for every file of {clip.clip_id})")
    return 0


def _versions(e: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return e.audio_in, e.audio_out, e.rect_audio
