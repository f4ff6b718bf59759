"""What ``audiointerp interpret`` writes for one clip and one method: figure, audio, JSON.

:func:`write_interpretation` writes, under ``out``:

- ``figure.png``: the input, the attribution and every mask's masked-in spectrogram (Hz axis
  at round frequencies), titled with the explained class (and a note when the clip's label is
  not one of the model's classes);
- ``audio/input.wav``: the model's input (resampled to its rate, mixed to mono, cropped or
  padded, peak-normalised), ``audio/<mask>_in.wav`` / ``_out.wav`` and
  ``audio/slice_best.wav``, every file scaled by the clip's one listening gain;
- ``metrics.json``: the clip's rows (the grid's numbers), its probabilities, the most
  important slice in seconds and Hz, the gain and what each audio file is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiointerp.experiments.interactive.clip import ClipAnalysis, ClipExplainer, ClipExplanation

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["UNITS", "save_figure", "write_interpretation"]

UNITS = {"FF": "prob", "AI": "%", "AD": "%", "AG": "%", "FidIn": "0/1", "SPS": "[0,1]",
         "COMP": "nats", "si_sdr": "dB", "si_sdri": "dB"}  # fmt: skip


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
) -> Figure:
    """Spectrogram, attribution (diverging, centred at 0) and masked-in spectrograms; saved
    to ``path`` and returned.

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
    return fig


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None  # strict JSON has no NaN/Inf
    return v


def write_interpretation(
    out: Path,
    explainer: ClipExplainer,
    clip: ClipAnalysis,
    method: str,
    explained: Mapping[str, ClipExplanation],
    *,
    gain: float,
    target: int,
    source: str,
    weights: str,
) -> dict[str, Any]:
    """Write one clip's figure, audio and ``metrics.json`` for ``method``; return the report.

    Parameters
    ----------
    out : Path
        The method's folder.
    explainer : ClipExplainer
    clip : ClipAnalysis
    method : str
    explained : mapping of mask name to ClipExplanation
        :meth:`ClipExplainer.explain`'s result.
    gain : float
        The clip's listening gain (one for every file of the clip, see
        :func:`~.listening.listening_gain`).
    target : int
        The explained class index.
    source, weights : str
        Where the clip and the model came from (recorded).
    """
    from audiointerp.data.io import write_audio

    clf = explainer.classifier
    frontend, classes = clf.frontend, clf.classes
    first = next(iter(explained.values()))
    audio_dir = out / "audio"
    seconds = len(clip.wave) / clip.sr
    write_audio(audio_dir / "input.wav", gain * clip.wave, clip.sr)
    report: dict[str, Any] = {
        "clip": clip.clip_id,
        "source": source,
        "weights": weights,
        "sha256": clf.sha256,
        "condition": explainer.condition if explainer.session is not None else None,
        "method": method,
        "options": first.options,
        "context_notes": list(explainer.context.notes),
        "label": clip.category,
        "label_known_to_model": not clip.unknown_class,
        "label_note": clip.label_note,
        "predicted": clip.predicted_class,
        "target": classes[target],
        "p_target": float(clip.probs[target]),
        "probs": {k: float(v) for k, v in zip(classes, clip.probs.tolist(), strict=True)},
        "units": UNITS,
        "masks": {},
        "audio": {
            "gain": gain,
            "note": "every file of this clip is scaled by this one gain, so that no file "
            "peaks above -1 dBFS and nothing clips; divide by it for the values the model saw",
            "input.wav": f"the model's input: resampled to {clip.sr} Hz, mixed to mono, cropped "
            f"or padded to {seconds:g} s, peak-normalised",
            "<mask>_in.wav / <mask>_out.wav": "what the mask keeps / removes, resynthesized "
            f"with the {explainer.route!r} route",
            "slice_best.wav": "the most important time-frequency slice, band- and time-limited",
        },
    }
    for name, ex in explained.items():
        report["masks"][name] = {k: _json_value(v) for k, v in ex.metrics.items()}
        for kind, y in (("in", ex.audio_in), ("out", ex.audio_out)):
            write_audio(audio_dir / f"{name}_{kind}.wav", gain * y, clip.sr, subtype="FLOAT")
    (f0, f1), (t0, t1) = first.rect
    write_audio(audio_dir / "slice_best.wav", gain * first.rect_audio, clip.sr, subtype="FLOAT")
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
    title = f"{clip.clip_id}: {method} for {classes[target]!r} (p={float(clip.probs[target]):.2f})"
    if clip.label_note:
        title += f"\nNOTE: {clip.label_note}"
    save_figure(
        out / "figure.png",
        clip.features[0, 0].cpu().numpy(),
        first.attribution,
        {n: ex.masked_in for n, ex in explained.items()},
        hz=frontend.bin_frequencies_hz(),
        seconds=seconds,
        title=title,
        floor_db=frontend.floor_db,
    )
    return report
