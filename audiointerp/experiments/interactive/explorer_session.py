"""The explorer's compute core: a clip explainer, the clips to draw from, the current clip.

:class:`ExplorerSession` holds no widgets: its plain methods (:meth:`~ExplorerSession.pick`,
:meth:`~ExplorerSession.explain`) return :class:`~.clip.ClipAnalysis` /
:class:`~.clip.ClipExplanation` objects computed by a :class:`~.clip.ClipExplainer`, so every
number comes from the explain-and-score core and any model the registry can load (CNNs, ASTs)
is explored the same way. Built from an experiment (:meth:`ExplorerSession.from_experiment`)
it offers the grid's clips and shows the grid's numbers; built from a checkpoint and a data
folder (ESC-50, UrbanSound8K, a folder per class; any lengths, rates and channels) it reads
each clip as the model's input: resampled, mixed to mono, cropped or padded to the model's
training length, peak-normalised.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.interactive.clip import ClipAnalysis, ClipExplainer, ClipExplanation
from audiointerp.validation import check_choice

log = logging.getLogger(__name__)

__all__ = ["FILL_CHOICES", "INTERACTIVE_OPTIONS", "SOURCES", "ExplorerSession", "model_duration_s"]

Source = Literal["random", "random from class", "by name"]
SOURCES: tuple[str, ...] = ("random", "random from class", "by name")
#: Interactive defaults for the perturbation methods (seconds per click on a CPU); used only
#: without an experiment config.
INTERACTIVE_OPTIONS: dict[str, dict[str, Any]] = {"lime": {"n_samples": 200}}
#: The occlusion fill offered for methods with a ``fill`` option: label -> option value.
FILL_CHOICES: dict[str, str] = {
    "training mean": "train_mean",
    "silence floor": "floor",
    "clip mean": "clip_mean",
}


def model_duration_s(classifier: Any, default: float = 5.0) -> float:
    """The clip length a checkpoint was trained on (its training config), else ``default``."""
    meta = getattr(classifier, "meta", None) or {}
    value = meta.get("train_config", {}).get("data", {}).get("duration_s")
    return float(value) if value else float(default)


def takes_option(method: str, option: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether method ``method``'s constructor has an option named ``option`` (``options``:
    its configured options, which name the registered method of an alias)."""
    from audiointerp.interpretation import resolve_method

    cls, _ = resolve_method(method, options)
    return option in inspect.signature(cls.__init__).parameters


class ExplorerSession:
    """A clip explainer + a data set + the current clip and explanation (no widgets).

    Parameters
    ----------
    classifier : path or LoadedClassifier
        Checkpoint (e.g. ``weights/default_mel.pt``) or a loaded classifier.
    data : path or AudioDataset
        The data set clips are drawn from (opened at the model's sample rate); its training
        folds give the methods their training context when it has them.
    duration_s : float, None or "model"
        Clip length: ``"model"`` (default) the length the checkpoint was trained on, a number
        of seconds, or ``None`` to keep each file's length.
    method_options : mapping, optional
        Per-method options; default :data:`INTERACTIVE_OPTIONS`.
    route : {"phase", "paper", "paper_nnls", "griffinlim"}
        Resynthesis route of the masked audio.
    seed : int
        Seed of the random clip choice and of stochastic methods.
    device : str, optional
    explainer : ClipExplainer, optional
        Used instead of building one (see :meth:`from_experiment`).
    """

    def __init__(
        self,
        classifier: str | Path | Any = None,
        data: str | Path | Any = None,
        *,
        duration_s: float | None | str = "model",
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        route: str = "phase",
        seed: int = 0,
        device: str | None = None,
        explainer: ClipExplainer | None = None,
    ) -> None:
        if explainer is None:
            if isinstance(classifier, (str, Path)):
                from audiointerp.models import load_classifier

                classifier = load_classifier(classifier, device=device)
            if duration_s == "model":
                duration_s = model_duration_s(classifier)
            explainer = ClipExplainer.from_folder(
                classifier,
                data if isinstance(data, (str, Path)) else None,
                duration_s=duration_s,
                method_options=INTERACTIVE_OPTIONS if method_options is None else method_options,
                seed=seed,
                route=route,
            )
        elif duration_s == "model":
            duration_s = model_duration_s(explainer.classifier)
        self.explainer = explainer
        self.classifier = explainer.classifier
        if explainer.session is not None:  # the clips the experiment explains
            data = explainer.session.dataset(explainer.model_name)[0].subset(
                ids=explainer.session.clip_ids(explainer.model_name)
            )
        elif not hasattr(data, "clips"):
            from audiointerp.data import open_dataset

            data = open_dataset(data, sr=self.classifier.frontend.sr, duration_s=duration_s)
        self.dataset = data
        self.seed = int(seed if explainer.session is None else explainer.seed)
        self.rng = np.random.default_rng(self.seed)
        self.clip: ClipAnalysis | None = None
        self.explanation: ClipExplanation | None = None

    @classmethod
    def from_experiment(
        cls, config: Any, model: str, *, condition: str | None = None, device: str | None = None
    ) -> ExplorerSession:
        """Explore the clips an experiment explains, with its methods, options and condition
        (the numbers shown equal the grid's rows)."""
        from audiointerp.experiments.grid.session import ExperimentSession

        session = ExperimentSession(config, device=device)
        return cls(explainer=ClipExplainer.from_session(session, model, condition=condition))

    @property
    def bin_hz(self) -> np.ndarray:
        return self.classifier.frontend.bin_frequencies_hz()

    @property
    def methods(self) -> list[str]:
        """Methods offered: the experiment's, or every registered one this model supports
        that needs no fitting and no ground truth (clips outside an experiment come without
        their stems)."""
        from audiointerp.interpretation import method_class, method_names

        if self.explainer.session is not None:
            return list(self.explainer.method_options)
        model = self.classifier.model
        return [
            n
            for n in method_names()
            if not method_class(n).needs_fitting
            and not method_class(n).needs_ground_truth
            and method_class(n).unsupported(model) is None
        ]

    @property
    def notes(self) -> list[str]:
        """What readers should know about the methods' context (fallbacks)."""
        return list(self.explainer.context.notes)

    def source_description(self) -> str:
        """How the current clip's file became the model's input (rate, channels, length)."""
        if self.clip is None:
            return ""
        from audiointerp.data.io import audio_info

        sr, seconds = self.clip.sr, len(self.clip.wave) / self.clip.sr
        model_input = f"model input {seconds:.2f} s at {sr} Hz, mono, peak-normalised"
        try:
            clip = self.dataset.clips[self.dataset.index_of(self.clip.clip_id)]
            info = audio_info(clip.path)
        except AudioInterpError:
            return model_input
        channels = "mono" if info.channels == 1 else f"{info.channels} channels"
        length = info.frames / info.sr
        return f"file {length:.2f} s at {info.sr} Hz, {channels} -> {model_input}"

    def pick(
        self, source: Source = "random", *, category: str | None = None, name: str | None = None
    ) -> ClipAnalysis:
        """Choose a clip (random, random of ``category``, or by file name/id) and predict it."""
        check_choice("source", source, SOURCES)
        ds = self.dataset
        if source == "by name":
            index = ds.index_of((name or "").strip())
        else:
            index = ds.random_clip(self.rng, category if source == "random from class" else None)
        ex = self.explainer
        if ex.session is not None:
            self.clip = ex.analyze_experiment_clip(ds.clips[index].id)
        else:
            wave, _, clip_id = ds[index]
            self.clip = ex.analyze(wave, clip_id=clip_id, category=ds.clips[index].category)
        self.explanation = None
        return self.clip

    def explain(
        self,
        method: str,
        mask: str,
        *,
        n_freq: int | None = None,
        n_time: int | None = None,
        fill: str | float | None = None,
    ) -> ClipExplanation:
        """Explain the current clip's prediction with ``method`` and ``mask``.

        ``n_freq`` / ``n_time`` set the grid of the most important slice (and, for methods
        that find their own region, their occlusion grid); default the configured slice grid.
        ``fill`` (``"train_mean"``, ``"floor"``, ``"clip_mean"`` or dB) replaces the configured
        occlusion fill of methods that take one.
        """
        if self.clip is None:
            raise AudioInterpError("no clip loaded yet: pick a clip first")
        from audiointerp.interpretation import resolve_method

        overrides: dict[str, Any] = {}
        configured = self.explainer.options(method)
        if resolve_method(method, configured)[0].explains_region and (n_freq or n_time):
            overrides["n_freq"] = int(n_freq or configured.get("n_freq", 3))
            overrides["n_time"] = int(n_time or configured.get("n_time", 3))
        if fill is not None and takes_option(method, "fill", configured):
            if fill != configured.get("fill", "train_mean"):
                overrides["fill"] = fill
        self.explanation = self.explainer.explain(
            self.clip,
            method,
            masks=[mask],
            overrides=overrides or None,
            n_freq=n_freq,
            n_time=n_time,
        )[mask]
        return self.explanation
