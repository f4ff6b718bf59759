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
from audiointerp.experiments.interactive.clip import ClipAnalysis, ClipExplainer, ClipExplanation

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MASKS",
    "Illustration",
    "ModelIllustration",
    "default_methods",
    "illustrate_clip",
    "load_clip",
]

DEFAULT_MASKS: tuple[str, ...] = ("minmax", "bin", "topK_30")
#: Lighter settings than the paper's for the perturbation methods, so a figure takes seconds
#: (used only without an experiment config; with one, its method options are used).
QUICK_OPTIONS: dict[str, dict[str, Any]] = {"lime": {"n_samples": 300}}


def default_methods(model: Any) -> list[str]:
    """The registry's default set of methods that can explain ``model`` without fitting."""
    from audiointerp.interpretation import method_class, method_names

    out = []
    for name in method_names():
        cls = method_class(name)
        if cls.in_default_set and not cls.needs_fitting and cls.unsupported(model) is None:
            out.append(name)
    return out


def supported(methods: Sequence[str], model: Any) -> list[str]:
    """The methods of a config that ``model`` supports (as the grid, which leaves the others
    out: attention methods on a CNN)."""
    from audiointerp.interpretation import method_class

    return [m for m in methods if method_class(m).unsupported(model) is None]


@dataclass
class ModelIllustration:
    """One model's outputs (files under ``out_dir/<model>/``)."""

    clip: ClipAnalysis
    explanations: dict[str, dict[str, ClipExplanation]]
    figure_png: Path
    figure_pdf: Path
    metrics_csv: Path
    audio: dict[str, Path]
    notes: list[str]


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
    audio: str | Path | None = None,
    data: str | Path | Any | None = None,
    clip: str | None = None,
    duration_s: float | None = 5.0,
    seed: int = 0,
) -> tuple[np.ndarray, str, str | None]:
    """Load a clip from a file or a data set (by name, or a seeded random one).

    Parameters
    ----------
    sr : int
        The model's sample rate.
    audio : path, optional
        An audio file (any format/rate soundfile reads).
    data : path or AudioDataset, optional
        A data set folder; ``clip`` picks a file name or id, else a random clip (``seed``).
    duration_s : float or None
        Crop/pad to this many seconds (None keeps the file's length).

    Returns
    -------
    wave (N,) float32, clip id, the data set's class name (None for a plain file)
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
    return wave, clip_id, ds.clips[index].category


def _classifiers(models: Any, device: str | None) -> dict[str, Any]:
    from audiointerp.models import load_classifier

    if not isinstance(models, Mapping):
        name = Path(models).stem if isinstance(models, (str, Path)) else "model"
        models = {name: models}
    if not models:
        raise ParameterError("illustrate needs at least one model (a checkpoint path)")
    from audiointerp.files import check_path_name

    return {  # each name is a folder under out_dir: it must not point outside it
        check_path_name("model", name): (
            load_classifier(m, device=device) if isinstance(m, (str, Path)) else m
        )
        for name, m in models.items()
    }


def illustrate_clip(
    clip: str | None = None,
    *,
    out_dir: str | Path,
    models: Any = None,
    config: Any = None,
    condition: str | None = None,
    audio: str | Path | None = None,
    data: str | Path | Any | None = None,
    methods: Sequence[str] | None = None,
    masks: Sequence[str] = DEFAULT_MASKS,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_freq: int | None = None,
    n_time: int | None = None,
    route: str = "phase",
    duration_s: float | None = 5.0,
    dpi: int = 200,
    seed: int = 0,
    device: str | None = None,
) -> Illustration:
    """Explain one clip with several methods and masks; write figures, audio and one page.

    Two ways to say what is explained:

    - ``config=`` an :class:`~audiointerp.experiments.grid.config.ExperimentConfig`: its
      models, methods and options, training context, seed, batch size, resynthesis route and
      ``condition`` (default its first); ``clip`` is one of its explained clips. The numbers
      then equal the grid's rows for that clip.
    - ``models=`` checkpoints with ``audio=`` a file or ``data=`` a folder: methods get their
      training context from the folder's training folds when it has them.

    Parameters
    ----------
    clip : str, optional
        Clip id or file name; default a seeded random clip (ignored with ``audio``).
    out_dir : path
        Output folder: ``listen.html`` and one subfolder per model (see the module docstring).
    models : path, LoadedClassifier, or mapping of name to either
        Checkpoint(s), e.g. ``{"mel": "weights/default_mel.pt"}`` (with ``config``: a subset
        of its model names).
    config : ExperimentConfig, optional
    condition : str, optional
        With ``config``: the condition the clip is heard under.
    audio, data, duration_s
        Where the clip comes from without ``config`` (see :func:`load_clip`).
    methods : sequence of str, optional
        Figure columns; default the config's methods, or :func:`default_methods`.
    masks : sequence of str
        Figure rows.
    method_options : mapping, optional
        Without ``config``: per-method options (default :data:`QUICK_OPTIONS`).
    n_freq, n_time : int, optional
        Grid of the most important slice for methods that do not find their own.
    route : {"phase", "paper", "paper_nnls", "griffinlim"}
        Resynthesis route (without ``config``).
    dpi : int
        Resolution of the PNG figures.
    seed : int
        Seed of the random clip and, without ``config``, of stochastic methods.
    device : str, optional

    Returns
    -------
    Illustration
    """
    from audiointerp.experiments.interactive import listening

    if not masks:
        raise ParameterError("illustrate needs at least one mask")
    if methods is not None and not methods:
        raise ParameterError("illustrate needs at least one method")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 2000:
        raise ParameterError(f"dpi={dpi!r} is not a usable resolution; give 10..2000 (e.g. 200)")
    out = Path(out_dir)
    results, sections = {}, []
    for name, explainer, analysis in _explained_clips(
        clip,
        models=models,
        config=config,
        condition=condition,
        audio=audio,
        data=data,
        method_options=method_options,
        route=route,
        duration_s=duration_s,
        seed=seed,
        device=device,
    ):
        res, section = _illustrate_model(
            name,
            explainer,
            analysis,
            out / name,
            methods=list(
                methods
                or (
                    supported(config.methods, explainer.classifier.model)
                    if config is not None
                    else default_methods(explainer.classifier.model)
                )
            ),
            masks=masks,
            n_freq=n_freq,
            n_time=n_time,
            dpi=dpi,
        )
        results[name], clip = res, analysis.clip_id  # same clip for every model
        sections.append(section)
    html_path = out / "listen.html"
    html_path.write_text(
        listening.listening_page(sections, title=f"Listening to interpretations of {clip}"),
        encoding="utf-8",
    )
    log.info("illustration of %s written to %s", clip, out)
    return Illustration(str(clip), results, html_path, out)


def _explained_clips(
    clip: str | None,
    *,
    models: Any,
    config: Any,
    condition: str | None,
    audio: str | Path | None,
    data: Any,
    method_options: Mapping[str, Mapping[str, Any]] | None,
    route: str,
    duration_s: float | None,
    seed: int,
    device: str | None,
):
    """Yield ``(model name, ClipExplainer, ClipAnalysis)`` for every model, the same clip."""
    if config is not None:
        from audiointerp.experiments.grid.session import ExperimentSession

        if audio is not None:
            raise ParameterError("with config=, the clip comes from the experiment (clip=ID)")
        names = list(models) if models else list(config.models)
        unknown = sorted(set(names) - set(config.models))
        if unknown:
            raise ParameterError(f"models {unknown} are not in the experiment {config.name!r}")
        session = ExperimentSession(config, device=device)
        first = names[0]
        if clip is None:
            ids = session.clip_ids(first)
            clip = ids[int(np.random.default_rng(seed).integers(len(ids)))]
        for name in names:
            explainer = ClipExplainer.from_session(session, name, condition=condition)
            yield name, explainer, explainer.analyze_experiment_clip(clip)
        return
    options = QUICK_OPTIONS if method_options is None else method_options
    for name, clf in _classifiers(models, device).items():
        wave, clip_id, category = load_clip(
            sr=clf.frontend.sr, audio=audio, data=data, clip=clip, duration_s=duration_s, seed=seed
        )
        source = data if isinstance(data, (str, Path)) else None
        explainer = ClipExplainer.from_folder(
            clf, source, duration_s=duration_s, method_options=options, seed=seed, route=route
        )
        clip = clip_id
        yield name, explainer, explainer.analyze(wave, clip_id=clip_id, category=category)


def _illustrate_model(
    name: str,
    explainer: ClipExplainer,
    analysis: ClipAnalysis,
    out: Path,
    *,
    methods: Sequence[str],
    masks: Sequence[str],
    n_freq: int | None,
    n_time: int | None,
    dpi: int,
) -> tuple[ModelIllustration, Any]:
    """Figure, audio files and page section of one model."""
    from audiointerp.data.io import write_audio
    from audiointerp.experiments.interactive import figures, listening

    classifier = explainer.classifier
    frontend = classifier.frontend
    explanations = {
        m: explainer.explain(analysis, m, masks=masks, n_freq=n_freq, n_time=n_time)
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
    gain = listening.listening_gain(
        analysis.wave,
        *(
            a
            for ex in explanations.values()
            for e in ex.values()
            for a in (e.audio_in, e.audio_out, e.rect_audio)
        ),
    )
    sr = analysis.sr
    files = {"original": write_audio(out / "audio" / "original.wav", gain * analysis.wave, sr)}
    versions: dict[str, dict[str, dict[str, object]]] = {}
    rows = []
    for method, by_mask in explanations.items():
        versions[method] = {}
        first = next(iter(by_mask.values()))
        files[f"{method}/slice"] = write_audio(
            out / "audio" / f"{method}_slice.wav", gain * first.rect_audio, sr
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
            rows.append({"clip": analysis.clip_id, "method": method, "mask": mask, **ex.metrics})
    metrics_csv = out / "metrics.csv"
    pd.DataFrame(rows).to_csv(metrics_csv, index=False)
    truth = f"true class {analysis.true_class}; " if analysis.true_class else ""
    if analysis.unknown_class:
        truth = f"NOTE: {analysis.label_note}; "
    where = (
        f"experiment {explainer.session.cfg.name!r}, condition {explainer.condition!r}; "
        if explainer.session is not None
        else ""
    )
    notes = list(explainer.context.notes)
    summary = (
        f"{truth}predicted {analysis.predicted_class} "
        f"(p = {analysis.probs[analysis.prediction]:.3f}); "
        f"model {getattr(classifier.config, 'arch', '?')} on {frontend.config.kind} features; "
        f"{where}resynthesis route {explainer.route!r}; every version is scaled by one gain, "
        f"{gain:.3f}, so nothing peaks above -1 dBFS or clips; the original is the "
        "model's input (resampled, mono, cropped or padded, peak-normalised)."
        + (" " + " ".join(f"Note: {n}." for n in notes) if notes else "")
    )
    masks_shown = list(dict.fromkeys(m for ex in explanations.values() for m in ex))
    section = listening.PageSection(
        heading=f"{name}: {analysis.clip_id}",
        summary=summary,
        figure_png=png,
        sr=sr,
        original=gain * analysis.wave,
        versions=versions,
        masks=masks_shown,
    )
    res = ModelIllustration(
        analysis,
        explanations,
        out / "figure.png",
        out / "figure.pdf",
        metrics_csv,
        files,
        notes,
    )
    return res, section
