"""``audiointerp interpret``: explain one audio file, write a figure, masked audio and metrics."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

HELP = "explain one audio file: attribution figure, masked-in/out audio per mask, metrics JSON"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audio", required=True, help="audio file (any rate/format), e.g. samples/*.wav"
    )
    parser.add_argument("--weights", default="weights/default_mel.pt", help="classifier checkpoint")
    parser.add_argument(
        "--method", default="saliency", help="saliency, gradcam, lime, shap, slice or ig"
    )
    parser.add_argument(
        "--masks",
        nargs="+",
        default=None,
        metavar="MASK",
        help="mask names (default: all 14 of the paper)",
    )
    parser.add_argument("--out", default="results/interpret", help="output folder")
    parser.add_argument(
        "--target",
        default=None,
        help="class to explain, name or index (default: the predicted class)",
    )
    parser.add_argument(
        "--duration-s",
        type=float,
        default=5.0,
        help="crop/pad the clip to this many seconds (0 keeps its length)",
    )
    parser.add_argument(
        "--route", default="phase", help="resynthesis route: phase, paper, griffinlim"
    )
    parser.add_argument(
        "--set",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option (YAML value), e.g. --set n_samples=200; repeatable",
    )
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if present)")  # fmt: skip


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: yaml(v)}``."""
    import yaml

    from audiointerp.errors import ParameterError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParameterError(f"--set {item!r}: expected KEY=VALUE, e.g. --set n_samples=200")
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve_class(target: str | None, classes: list[str]) -> int | None:
    """Class index from a name or an index string (None stays None)."""
    from audiointerp.validation import check_choice

    if target is None:
        return None
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    return classes.index(check_choice("--target", target, classes))


def _yticks(ax: Any, hz: np.ndarray) -> None:
    ticks = np.linspace(0, len(hz) - 1, 5).round().astype(int)
    ax.set_yticks(ticks, [f"{hz[t]:.0f}" for t in ticks])


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db = (max(floor_db, float(features.min()) - 60.0), float(features.max()))
    panels = [("input (dB)", features, "magma", db)]
    lim = float(np.abs(attributions).max()) or 1.0
    panels.append(("attribution", attributions, "RdBu_r", (-lim, lim)))
    panels += [(f"masked-in: {n}", m, "magma", db) for n, m in masked.items()]
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    extent = (0.0, seconds, -0.5, features.shape[0] - 0.5)
    for ax, (name, img, cmap, clim) in zip(axes.flat, panels, strict=False):
        vmin, vmax = clim
        im = ax.imshow(
            img, origin="lower", aspect="auto", cmap=cmap, extent=extent, vmin=vmin, vmax=vmax
        )
        ax.set_title(name, fontsize=9)
        _yticks(ax, hz)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("Hz")
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    import torch

    from audiointerp import metrics
    from audiointerp.data.io import load_audio, write_audio
    from audiointerp.interpretation import forward_batched, get_method
    from audiointerp.interpretation.masks import MASK_NAMES, apply_mask, make_masks
    from audiointerp.models import load_classifier
    from audiointerp.validation import check_choice

    names = list(MASK_NAMES) if args.masks is None else args.masks
    for name in names:
        check_choice("--masks", name, MASK_NAMES)
    clf = load_classifier(args.weights, device=args.device)
    model, frontend, classes = clf.model, clf.frontend, clf.classes
    device = next(model.parameters()).device
    wave = load_audio(args.audio, sr=frontend.sr, duration_s=args.duration_s or None)
    spec = frontend.analyze(torch.from_numpy(wave)[None].to(device))
    features = spec.features

    options = parse_options(args.options)
    if args.method == "slice" and "fill" not in options and "feature_mean" in clf.meta:
        options["fill"] = float(clf.meta["feature_mean"])  # the training-set mean, if recorded
    method = get_method(args.method, **options)
    probs = forward_batched(model, features)
    target = resolve_class(args.target, classes)
    target_t = probs.argmax(1) if target is None else torch.tensor([target], device=device)
    slice_result = method.explain(model, features, target_t) if args.method == "slice" else None
    attributions = (
        slice_result.attributions if slice_result else method.attribute(model, features, target_t)
    )
    masks = make_masks(attributions, names)

    # every masked-in and masked-out variant in one batched pass
    base = frontend.floor_db
    variants = [apply_mask(features, m, base) for m in masks.values()]
    variants += [apply_mask(features, 1 - m, base) for m in masks.values()]
    p_var = forward_batched(model, torch.cat(variants)) if variants else probs[:0]
    n = len(masks)
    out = Path(args.out)
    audio_dir = out / "audio"
    write_audio(audio_dir / "input.wav", wave, frontend.sr)
    c = int(target_t[0])
    report: dict[str, Any] = {
        "audio": str(args.audio),
        "weights": str(args.weights),
        "method": args.method,
        "options": {k: v for k, v in options.items()},
        "predicted": classes[int(probs.argmax())],
        "target": classes[c],
        "p_target": float(probs[0, c]),
        "probs": {k: float(v) for k, v in zip(classes, probs[0].tolist(), strict=True)},
        "units": {
            "FF": "prob",
            "AI": "%",
            "AD": "%",
            "AG": "%",
            "FidIn": "0/1",
            "SPS": "[0,1]",
            "COMP": "nats",
        },  # fmt: skip
        "masks": {},
    }
    for i, (name, m) in enumerate(masks.items()):
        fid = metrics.fidelity(probs, p_var[i : i + 1], p_var[n + i : n + i + 1], target=[c])
        row = {k: float(v[0]) for k, v in fid.items()}
        row["SPS"] = float(metrics.sparseness(m)[0])
        row["COMP"] = float(metrics.complexity(m)[0])
        row["p_in"] = float(p_var[i, c])
        row["p_out"] = float(p_var[n + i, c])
        report["masks"][name] = row
        for kind, mask in (("in", m), ("out", 1 - m)):
            audio = frontend.resynthesize(spec, mask, route=args.route)[0].detach().cpu().numpy()
            write_audio(audio_dir / f"{name}_{kind}.wav", audio, frontend.sr, subtype="FLOAT")
    if slice_result is not None:
        f0, f1 = slice_result.freq_bins[0]
        t0, t1 = slice_result.frames[0]
        rect = frontend.rect_audio(spec, freq_bins=(f0, f1), frames=(t0, t1))
        write_audio(audio_dir / "slice_best.wav", rect[0].detach().cpu().numpy(), frontend.sr,
                    subtype="FLOAT")  # fmt: skip
        edges = frontend.band_edges_hz()  # (F + 1,) row boundaries
        times = frontend.frame_times_s(features.shape[-1] + 1)  # frame centres, one past the end
        report["slice"] = {
            "freq_bins": [f0, f1],
            "frames": [t0, t1],
            "hz": [float(edges[f0]), float(edges[f1])],
            "seconds": [float(times[t0]), float(times[t1])],
            "drops": slice_result.drops[0].tolist(),
        }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    masked_in = {k: v[0, 0].cpu().numpy() for k, v in zip(masks, variants[:n], strict=True)}
    save_figure(
        out / "figure.png",
        features[0, 0].cpu().numpy(),
        attributions[0, 0].cpu().numpy(),
        masked_in,
        hz=frontend.bin_frequencies_hz(),
        seconds=len(wave) / frontend.sr,
        title=f"{Path(args.audio).name}: {args.method} for {classes[c]!r} (p={float(probs[0, c]):.2f})",
        floor_db=base,
    )
    print(f"{Path(args.audio).name}: predicted {report['predicted']}, explained {classes[c]} "
          f"(p={report['p_target']:.3f}) with {args.method}")  # fmt: skip
    for name, row in report["masks"].items():
        print(f"  {name:14s} FF {row['FF']:+.3f}  AI {row['AI']:5.1f}  AD {row['AD']:5.1f}  "
              f"AG {row['AG']:5.1f}  FidIn {row['FidIn']:.0f}  SPS {row['SPS']:.3f}  "
              f"COMP {row['COMP']:.2f}")  # fmt: skip
    print(f"wrote {out / 'figure.png'}, {out / 'metrics.json'}, {audio_dir}/")
    return 0
