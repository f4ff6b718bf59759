"""Illustrate one clip: the paper-style figure, the audio of every version, a listening page.

:func:`illustrate_clip` is what ``audiointerp illustrate``, notebook 06 and the demo call.
Outputs in ``out_dir``::

    listen.html                           self-contained page, one section per model: figure,
                                          players (base64 data URIs) and metrics
    <model>/figure.png, figure.pdf        original beside each method's masked spectrograms
    <model>/audio/original.wav            the clip as the model heard it
    <model>/audio/<method>_<mask>_in.wav  masked-in audio (what the mask keeps)
    <model>/audio/<method>_<mask>_out.wav masked-out audio (everything else)
    <model>/audio/<method>_slice.wav      the method's most important time-frequency rectangle
    <model>/metrics.csv                   a row per (method, mask): p, p_in, p_out, metrics
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiointerp.errors import ParameterError
from audiointerp.experiments.clipexplain import (
    ClipAnalysis,
    Explanation,
    analyze_clip,
    explain_clip,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MASKS",
    "DEFAULT_METHODS",
    "Illustration",
    "ModelIllustration",
    "illustrate_clip",
    "load_clip",
]

DEFAULT_METHODS: tuple[str, ...] = ("saliency", "gradcam", "lime", "shap", "slice")
DEFAULT_MASKS: tuple[str, ...] = ("minmax", "bin", "topK_30")
#: Lighter settings than the paper's for the perturbation methods, so a figure takes seconds.
QUICK_OPTIONS: dict[str, dict[str, Any]] = {"lime": {"n_samples": 300}}


@dataclass
class ModelIllustration:
    """One model's outputs (files under ``out_dir/<model>/``)."""

    clip: ClipAnalysis
    explanations: dict[str, dict[str, Explanation]]
    figure_png: Path
    figure_pdf: Path
    metrics_csv: Path
    audio: dict[str, Path]


@dataclass
class Illustration:
    """What :func:`illustrate_clip` produced: per-model outputs and the listening page."""

    clip_id: str
    models: dict[str, ModelIllustration]
    html: Path
    out_dir: Path

    @property
    def figure(self) -> Path:
        """The first model's PNG figure."""
        return next(iter(self.models.values())).figure_png

    @property
    def audio_dir(self) -> Path:
        return self.out_dir


def load_clip(
    *,
    sr: int,
    classes: Sequence[str],
    audio: str | Path | None = None,
    data: str | Path | Any | None = None,
    clip: str | None = None,
    duration_s: float | None = 5.0,
    seed: int = 0,
) -> tuple[np.ndarray, str, int | None]:
    """Load a clip from a file or a data set (by name, or a seeded random one).

    Parameters
    ----------
    sr : int
        The model's sample rate.
    classes : sequence of str
        The model's classes (to map the data set's label onto them).
    audio : path, optional
        An audio file (any format/rate soundfile reads).
    data : path or AudioDataset, optional
        A data set folder; ``clip`` picks a file name or id, else a random clip (``seed``).
    duration_s : float or None
        Crop/pad to this many seconds (None keeps the file's length).

    Returns
    -------
    wave (N,) float32, clip id, true label index in ``classes`` (None when unknown)
    """
    if (audio is None) == (data is None):
        raise ParameterError("give exactly one of audio=FILE or data=DIR (with clip=ID)")
    if audio is not None:
        from audiointerp.data.io import load_audio

        return load_audio(audio, sr=sr, duration_s=duration_s), Path(audio).stem, None
    from audiointerp.data import open_dataset

    ds = data if hasattr(data, "clips") else open_dataset(data, sr=sr, duration_s=duration_s)
    index = ds.index_of(clip) if clip else ds.random_clip(seed)
    wave, _, clip_id = ds[index]
    category = ds.clips[index].category
    return wave, clip_id, (list(classes).index(category) if category in classes else None)


def _classifiers(models: Any, device: str | None) -> dict[str, Any]:
    from audiointerp.models import load_classifier

    if not isinstance(models, Mapping):
        name = Path(models).stem if isinstance(models, (str, Path)) else "model"
        models = {name: models}
    if not models:
        raise ParameterError("illustrate needs at least one model (a checkpoint path)")
    return {
        name: load_classifier(m, device=device) if isinstance(m, (str, Path)) else m
        for name, m in models.items()
    }


def illustrate_clip(
    clip: str | None = None,
    *,
    models: Any,
    out_dir: str | Path,
    audio: str | Path | None = None,
    data: str | Path | Any | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    masks: Sequence[str] = DEFAULT_MASKS,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_freq: int = 3,
    n_time: int = 3,
    route: str = "phase",
    duration_s: float | None = 5.0,
    dpi: int = 200,
    seed: int = 0,
    device: str | None = None,
) -> Illustration:
    """Explain one clip with several methods and masks; write figures, audio and one page.

    Parameters
    ----------
    clip : str, optional
        Clip id or file name in ``data``; default a seeded random clip (ignored with ``audio``).
    models : path, LoadedClassifier, or mapping of name to either
        Checkpoint(s), e.g. ``{"mel": "weights/default_mel.pt", "stft": "weights/default_stft.pt"}``.
    out_dir : path
        Output folder: ``listen.html`` and one subfolder per model (see the module docstring).
    audio, data, duration_s
        Where the clip comes from (see :func:`load_clip`).
    methods, masks : sequence of str
        Columns and rows of the figure.
    method_options : mapping, optional
        Per-method keyword options; default :data:`QUICK_OPTIONS` (LIME with 300 samples).
    n_freq, n_time : int
        Grid of the most important slice.
    route : {"phase", "paper", "griffinlim"}
        Resynthesis route.
    dpi : int
        Resolution of the PNG figures.
    seed : int
        Seed of the random clip and of stochastic methods.
    device : str, optional

    Returns
    -------
    Illustration
    """
    from audiointerp.experiments import listening

    if not methods or not masks:
        raise ParameterError("illustrate needs at least one method and one mask")
    out = Path(out_dir)
    results, sections, clip_id = {}, [], clip
    for name, clf in _classifiers(models, device).items():
        wave, clip_id, label = load_clip(
            sr=clf.frontend.sr,
            classes=clf.classes,
            audio=audio,
            data=data,
            clip=clip,
            duration_s=duration_s,
            seed=seed,
        )
        res, section = _illustrate_model(
            name,
            clf,
            wave,
            clip_id,
            label,
            out / name,
            methods=methods,
            masks=masks,
            method_options=method_options,
            n_freq=n_freq,
            n_time=n_time,
            route=route,
            dpi=dpi,
            seed=seed,
        )
        results[name], clip = res, clip_id  # same clip for every model
        sections.append(section)
    html_path = out / "listen.html"
    html_path.write_text(
        listening.listening_page(sections, title=f"Listening to interpretations of {clip_id}"),
        encoding="utf-8",
    )
    log.info("illustration of %s written to %s", clip_id, out)
    return Illustration(str(clip_id), results, html_path, out)


def _illustrate_model(
    name: str,
    classifier: Any,
    wave: np.ndarray,
    clip_id: str,
    label: int | None,
    out: Path,
    *,
    methods: Sequence[str],
    masks: Sequence[str],
    method_options: Mapping[str, Mapping[str, Any]] | None,
    n_freq: int,
    n_time: int,
    route: str,
    dpi: int,
    seed: int,
) -> tuple[ModelIllustration, Any]:
    """Figure, audio files and page section of one model."""
    from audiointerp.data.io import write_audio
    from audiointerp.experiments import figures, listening

    model, frontend, classes = classifier.model, classifier.frontend, classifier.classes
    analysis = analyze_clip(model, frontend, classes, wave, clip_id=clip_id, label=label)
    options = QUICK_OPTIONS if method_options is None else method_options
    explanations = {
        m: explain_clip(
            model,
            frontend,
            analysis,
            m,
            masks=masks,
            options=options.get(m),
            n_freq=n_freq,
            n_time=n_time,
            route=route,
            seed=seed,
        )
        for m in methods
    }
    (out / "audio").mkdir(parents=True, exist_ok=True)
    fig = figures.illustration_figure(
        analysis, explanations, frontend.bin_frequencies_hz(), masks=masks
    )
    png = figures.figure_bytes(fig, fmt="png", dpi=dpi)
    (out / "figure.png").write_bytes(png)
    (out / "figure.pdf").write_bytes(figures.figure_bytes(fig, fmt="pdf"))
    # One gain for every version of the clip: relative loudness stays audible, nothing clips.
    signals = [analysis.wave] + [
        a
        for ex in explanations.values()
        for e in ex.values()
        for a in (e.audio_in, e.audio_out, e.rect_audio)
    ]
    gain = min(1.0, 0.99 / max(float(np.abs(s).max()) for s in signals)) if signals else 1.0
    sr = analysis.sr
    files = {"original": write_audio(out / "audio" / "original.wav", gain * analysis.wave, sr)}
    versions: dict[str, dict[str, dict[str, object]]] = {}
    rows = []
    for method, by_mask in explanations.items():
        versions[method] = {}
        files[f"{method}/slice"] = write_audio(
            out / "audio" / f"{method}_slice.wav", gain * by_mask[masks[0]].rect_audio, sr
        )
        for mask, ex in by_mask.items():
            for kind, y in (("in", ex.audio_in), ("out", ex.audio_out)):
                files[f"{method}/{mask}/{kind}"] = write_audio(
                    out / "audio" / f"{method}_{mask}_{kind}.wav", gain * y, sr
                )
            versions[method][mask] = {
                "in": gain * ex.audio_in,
                "out": gain * ex.audio_out,
                "slice": gain * ex.rect_audio,
                "metrics": ex.metrics,
            }
            rows.append({"clip": clip_id, "method": method, "mask": mask, **ex.metrics})
    metrics_csv = out / "metrics.csv"
    pd.DataFrame(rows).to_csv(metrics_csv, index=False)
    truth = f"true class {analysis.true_class}; " if analysis.true_class else ""
    summary = (
        f"{truth}predicted {analysis.predicted_class} (p = {analysis.probs[analysis.prediction]:.3f}); "
        f"model {getattr(classifier.config, 'arch', '?')} on {frontend.config.kind} features; "
        f"resynthesis route {route!r}; audio scaled by {gain:.3f} (same for every version)."
    )
    section = listening.PageSection(
        heading=f"{name}: {clip_id}",
        summary=summary,
        figure_png=png,
        sr=sr,
        original=gain * analysis.wave,
        versions=versions,
        masks=list(masks),
    )
    res = ModelIllustration(
        analysis, explanations, out / "figure.png", out / "figure.pdf", metrics_csv, files
    )
    return res, section
