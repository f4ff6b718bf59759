"""One clip at a time through the explain-and-score core: what the views show.

:class:`ClipExplainer` explains single clips of one model exactly as a grid does: methods are
built through :func:`~audiointerp.experiments.core.build_methods` with a training context, and
every number comes from :func:`~audiointerp.experiments.core.explain_batch`. Build it from an
experiment (:meth:`ClipExplainer.from_session`: the grid's methods, seed, condition, batch size
and resynthesis route, so the numbers equal the grid's rows) or from a checkpoint and a data
folder (:meth:`ClipExplainer.from_folder`: training context from the folder's training folds
when it has them). ``audiointerp interpret``, the illustration, the listening page and the
explorer use it.

The per-clip records here (:class:`ClipAnalysis`, :class:`ClipExplanation`) hold NumPy arrays
and plain dicts, easy to plot, play and test.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiointerp.errors import DatasetError, ParameterError
from audiointerp.experiments.core.batch import PreparedBatch, prepare_batch
from audiointerp.experiments.core.context import DatasetTraining
from audiointerp.experiments.core.explain import explain_batch, mask_names_for, regions
from audiointerp.interpretation import AttributionMethod, MethodContext, build_method

if TYPE_CHECKING:
    from audiointerp.experiments.grid.session import ExperimentSession

log = logging.getLogger(__name__)

__all__ = ["ClipAnalysis", "ClipExplainer", "ClipExplanation"]


@dataclass
class ClipAnalysis:
    """One clip through the frontend and the model.

    Attributes
    ----------
    clip_id : str
    wave : np.ndarray (N,) float32
        The model's input audio (resampled, mono, fixed length, peak-normalised; under the
        experiment's condition when explained from an experiment).
    sr : int
    batch : PreparedBatch
        The core's batch of one (spectrogram, probabilities, ground truth).
    probs : np.ndarray (C,)
        Softmax probabilities.
    prediction : int
    classes : list of str
    label : int or None
        True class index when known to the model.
    category : str or None
        The data set's class name (may be a class the model does not know).
    """

    clip_id: str
    wave: np.ndarray
    sr: int
    batch: PreparedBatch
    probs: np.ndarray
    prediction: int
    classes: list[str]
    label: int | None = None
    category: str | None = None

    @property
    def spec(self) -> Any:
        return self.batch.spec

    @property
    def features(self) -> torch.Tensor:
        """Model input ``(1, 1, F, T)``."""
        return self.batch.features

    @property
    def predicted_class(self) -> str:
        return self.classes[self.prediction]

    @property
    def true_class(self) -> str | None:
        return None if self.label is None else self.classes[self.label]

    @property
    def unknown_class(self) -> bool:
        """The clip's class is not one of the model's (its prediction cannot be right)."""
        return self.category is not None and self.category not in self.classes

    @property
    def label_note(self) -> str | None:
        """What every view says about a clip of a class the model does not know (else None)."""
        if not self.unknown_class:
            return None
        return (
            f"labelled {self.category!r}, which is not one of the model's {len(self.classes)} "
            f"classes: the prediction {self.predicted_class!r} cannot be right"
        )

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes with their probabilities."""
        order = np.argsort(-self.probs)[:k]
        return [(self.classes[i], float(self.probs[i])) for i in order]


@dataclass
class ClipExplanation:
    """One method and one mask on one clip (feature arrays ``(F, T)``, audio ``(N,)``).

    ``metrics`` is the clip's row of the results table (``p, p_in, p_out``, FF, AI, AD, AG in
    percent, FidIn, SPS, COMP in nats, and the ground-truth metrics where the data has stems).
    ``rect`` is the most important time-frequency rectangle ``((f0, f1), (t0, t1))`` in feature
    indices (end-exclusive) and ``rect_audio`` its band- and time-limited audio.
    """

    method: str
    mask_name: str
    attribution: np.ndarray
    mask: np.ndarray
    masked_in: np.ndarray
    masked_out: np.ndarray
    audio_in: np.ndarray
    audio_out: np.ndarray
    metrics: dict[str, float]
    rect: tuple[tuple[int, int], tuple[int, int]]
    rect_audio: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


#: Row columns that are numbers shown as metrics (the rest are labels).
_METRIC_KEYS = (
    "p",
    "p_in",
    "p_out",
    "FF",
    "AI",
    "AD",
    "AG",
    "FidIn",
    "SPS",
    "COMP",
    "loc_auc",
    "relevance_mass",
    "si_sdr",
    "si_sdri",
)


class ClipExplainer:
    """Explain single clips of one classifier as an experiment grid would.

    Parameters
    ----------
    classifier : LoadedClassifier
    context : MethodContext
        The model's method context (training data for SHAP's background and the slice fill).
    method_options : mapping of str to dict, optional
        Per-method options (an experiment's ``methods``).
    seed : int
        Run seed (stochastic methods are seeded from ``(seed, method, clip id)``).
    batch_size : int
        Most masked variants per forward pass (equal values give bit-identical rows).
    route : {"phase", "paper", "paper_nnls", "griffinlim"}
        Resynthesis route of the masked audio.
    session : ExperimentSession, optional
        Set by :meth:`from_session`: clips come from the experiment's data and condition.
    model_name : str, optional
        The model's name in that session.
    condition : str
        The session condition clips are explained under.
    """

    def __init__(
        self,
        classifier: Any,
        *,
        context: MethodContext,
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 0,
        batch_size: int = 64,
        route: str = "phase",
        session: ExperimentSession | None = None,
        model_name: str | None = None,
        condition: str = "clean",
    ) -> None:
        self.classifier = classifier
        self.context = context
        self.method_options = {k: dict(v or {}) for k, v in (method_options or {}).items()}
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.route = route
        self.session = session
        self.model_name = model_name
        self.condition = condition
        self._methods: dict[tuple[str, str], AttributionMethod] = {}

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_session(
        cls, session: ExperimentSession, model: str, *, condition: str | None = None
    ) -> ClipExplainer:
        """Explain clips of an experiment exactly as its grid does (same methods and context,
        seed, batch size, route and condition)."""
        cfg = session.cfg
        if model not in session.classifiers:
            raise ParameterError(
                f"model {model!r} is not in the experiment (models: {sorted(session.classifiers)})"
            )
        condition = condition or cfg.conditions[0]
        if condition not in session.conditions:
            raise ParameterError(
                f"condition {condition!r} is not in the experiment (conditions: "
                f"{list(cfg.conditions)})"
            )
        return cls(
            session.classifiers[model],
            context=session.context(model),
            method_options=cfg.methods,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
            route=cfg.resynth_route,
            session=session,
            model_name=model,
            condition=condition,
        )

    @classmethod
    def from_folder(
        cls,
        classifier: Any,
        data: str | Path | None = None,
        *,
        train_folds: Sequence[int] = (1, 2, 3),
        duration_s: float | None = 5.0,
        **options: Any,
    ) -> ClipExplainer:
        """Explain any clip with ``classifier``; training context from ``data``'s training
        folds when it has them (otherwise methods fall back, as the context notes say)."""
        training = None
        if data is not None:
            training = _folder_training(classifier, data, train_folds, duration_s, options)
        model = classifier.model
        context = MethodContext(
            model, classifier.frontend, training, model_sha256=getattr(classifier, "sha256", None)
        )
        if training is None:
            context.note("no training data: methods that need it use their documented fallback")
        return cls(classifier, context=context, **options)

    # --- methods --------------------------------------------------------------------------
    def method(self, name: str, overrides: Mapping[str, Any] | None = None) -> AttributionMethod:
        """``name`` built with its options (plus ``overrides``) and the context, cached."""
        options = {**self.method_options.get(name, {}), **dict(overrides or {})}
        key = (name, repr(sorted(options.items())))
        if key not in self._methods:
            self._methods[key] = build_method(name, options, self.context)
        return self._methods[key]

    def options(self, name: str) -> dict[str, Any]:
        """The configured options of ``name``."""
        return dict(self.method_options.get(name, {}))

    # --- clips ----------------------------------------------------------------------------
    def analyze(
        self,
        wave: np.ndarray,
        *,
        clip_id: str = "clip",
        category: str | None = None,
        target: np.ndarray | None = None,
        background: np.ndarray | None = None,
    ) -> ClipAnalysis:
        """Run the frontend and the model on one waveform ``(N,)`` at the model's rate."""
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1 or wave.size == 0:
            raise ParameterError(f"wave must be a non-empty 1-D array (N,), got shape {wave.shape}")
        clf = self.classifier
        label = clf.classes.index(category) if category in clf.classes else -1
        batch = prepare_batch(
            clf.model,
            clf.frontend,
            wave[None],
            ids=[clip_id],
            labels=np.array([label]),
            categories=[category or ""],
            target=None if target is None else np.asarray(target, np.float32)[None],
            background=None if background is None else np.asarray(background, np.float32)[None],
        )
        return self._analysis(batch, category)

    def analyze_experiment_clip(self, clip: str) -> ClipAnalysis:
        """The experiment's clip ``clip`` (id or file name) under the explainer's condition."""
        if self.session is None:
            raise ParameterError("analyze_experiment_clip needs an explainer made by from_session")
        test, chosen = self.session.dataset(self.model_name)
        position = self.session.locate(self.model_name, clip)
        index = int(chosen[position])
        batch = self.session.batch(self.model_name, self.condition, np.array([index]))
        return self._analysis(batch, test.clips[index].category)

    def _analysis(self, batch: PreparedBatch, category: str | None) -> ClipAnalysis:
        clf = self.classifier
        probs = batch.probs[0].detach().cpu().numpy()
        label = int(batch.labels[0])
        return ClipAnalysis(
            clip_id=batch.ids[0],
            wave=batch.waves[0].detach().cpu().numpy(),
            sr=int(clf.frontend.sr),
            batch=batch,
            probs=probs,
            prediction=int(probs.argmax()),
            classes=list(clf.classes),
            label=None if label < 0 else label,
            category=category or None,
        )

    # --- explanations ---------------------------------------------------------------------
    def explain(
        self,
        clip: ClipAnalysis,
        method: str,
        *,
        masks: Sequence[str] | None = ("minmax",),
        overrides: Mapping[str, Any] | None = None,
        n_freq: int | None = None,
        n_time: int | None = None,
        target: int | None = None,
    ) -> dict[str, ClipExplanation]:
        """Explain ``clip`` with ``method``; one :class:`ClipExplanation` per mask.

        Parameters
        ----------
        clip : ClipAnalysis
        method : str
            A registered method name.
        masks : sequence of str or None
            Mask names (``None``: all 14; ``native`` is added for methods with their own mask).
        overrides : mapping, optional
            Method options replacing the configured ones (e.g. the explorer's slice grid).
        n_freq, n_time : int, optional
            Grid of the most important rectangle for methods that do not find their own
            (default: the slice method's configured grid, else 3 x 3).
        target : int, optional
            Class index to explain and score (default: the predicted class).
        """
        explainer = self.method(method, overrides)
        result = explain_batch(
            clip.batch,
            explainer,
            model=self.classifier.model,
            frontend=self.classifier.frontend,
            method_name=method,
            masks=masks,
            seed=self.seed,
            batch_size=self.batch_size,
            resynth_route=self.route,
            audio=True,
            target=None if target is None else torch.tensor([int(target)]),
        )
        grid = self.options("slice")
        nf = int(n_freq or grid.get("n_freq", 3))
        nt = int(n_time or grid.get("n_time", 3))
        rect = regions(result, n_freq=nf, n_time=nt)[0]
        with torch.inference_mode():
            rect_audio = self.classifier.frontend.rect_audio(
                clip.spec, freq_bins=rect[0], frames=rect[1]
            )[0]
        base = float(self.classifier.frontend.floor_db)
        x = clip.features[0, 0]
        out = {}
        options = {**self.options(method), **dict(overrides or {})}
        details = {k: v[0].detach().cpu().numpy() for k, v in result.details.items()}
        for name in mask_names_for(explainer, masks):
            m = result.masks[name][0, 0]
            row = result.row(name)
            a_in, a_out = result.audio[name]
            out[name] = ClipExplanation(
                method=method,
                mask_name=name,
                attribution=result.attributions[0, 0].cpu().numpy(),
                mask=m.cpu().numpy(),
                masked_in=((x - base) * m + base).cpu().numpy(),
                masked_out=((x - base) * (1 - m) + base).cpu().numpy(),
                audio_in=a_in[0].cpu().numpy().astype(np.float32),
                audio_out=a_out[0].cpu().numpy().astype(np.float32),
                metrics={k: float(row[k]) for k in _METRIC_KEYS if k in row},
                rect=rect,
                rect_audio=rect_audio.cpu().numpy().astype(np.float32),
                options={k: v for k, v in options.items() if not isinstance(v, torch.Tensor)},
                details=details,
            )
        return out


def _folder_training(
    classifier: Any,
    root: str | Path,
    train_folds: Sequence[int],
    duration_s: float | None,
    options: Mapping[str, Any],
) -> DatasetTraining | None:
    """Training data from a folder's training folds, or ``None`` when it has none."""
    from audiointerp.data import open_dataset

    try:
        ds = open_dataset(root, sr=classifier.frontend.sr, duration_s=None, on_error="skip")
        present = {c.fold for c in ds.clips}
    except DatasetError as exc:
        log.info("%s: no training context (%s)", root, exc)
        return None
    # The default folds are a convention, not a request: use those the folder has (asking
    # open_dataset for an absent fold is an error).
    folds = [f for f in train_folds if f in present]
    if not folds:
        log.info("%s: no training context (none of folds %s)", root, list(train_folds))
        return None
    return DatasetTraining(
        root,
        folds=folds,
        frontend=classifier.frontend,
        seed=int(options.get("seed", 0)),
        device=next(classifier.model.parameters()).device,
        duration_s=duration_s,
    )
