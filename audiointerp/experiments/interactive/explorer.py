"""The interactive explorer: pick a clip, listen, explain it with a method and a mask.

Two layers, both testable without a browser:

- :class:`ExplorerSession` is the compute core: a :class:`~.clip.ClipExplainer` (every number
  from the explain-and-score core) plus the data set clips are drawn from. Its plain methods
  (:meth:`~ExplorerSession.pick`, :meth:`~ExplorerSession.explain`) return
  :class:`~.clip.ClipAnalysis` / :class:`~.clip.ClipExplanation` objects. Built from an
  experiment (:meth:`ExplorerSession.from_experiment`) it shows the grid's numbers for the
  grid's clips.
- :class:`Explorer` wires ipywidgets to a session. Its button handlers (:meth:`Explorer.on_load`,
  :meth:`Explorer.on_compute`) only read widget values, call the session and write results
  into widgets (PNG images, WAV audio players, an HTML metrics table), so a test can set
  values, call a handler and inspect the widgets.

In a notebook::

    from audiointerp.experiments.interactive.explorer import Explorer
    Explorer("weights/default_mel.pt", "data/synth").widget   # display it
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.interactive.clip import ClipAnalysis, ClipExplainer, ClipExplanation
from audiointerp.validation import check_choice

log = logging.getLogger(__name__)

__all__ = ["SOURCES", "Explorer", "ExplorerSession"]

Source = Literal["random", "random from class", "by name"]
SOURCES: tuple[str, ...] = ("random", "random from class", "by name")
#: Interactive defaults for the perturbation methods (seconds per click on a CPU); used only
#: without an experiment config.
INTERACTIVE_OPTIONS: dict[str, dict[str, Any]] = {"lime": {"n_samples": 200}}


class ExplorerSession:
    """A clip explainer + a data set + the current clip and explanation (no widgets).

    Parameters
    ----------
    classifier : path or LoadedClassifier
        Checkpoint (e.g. ``weights/default_mel.pt``) or a loaded classifier.
    data : path or AudioDataset
        The data set clips are drawn from (opened at the model's sample rate); its training
        folds give the methods their training context when it has them.
    duration_s : float or None
        Clip length (None keeps each file's length).
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
        duration_s: float | None = 5.0,
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
            explainer = ClipExplainer.from_folder(
                classifier,
                data if isinstance(data, (str, Path)) else None,
                duration_s=duration_s,
                method_options=INTERACTIVE_OPTIONS if method_options is None else method_options,
                seed=seed,
                route=route,
            )
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
        self, method: str, mask: str, *, n_freq: int | None = None, n_time: int | None = None
    ) -> ClipExplanation:
        """Explain the current clip's prediction with ``method`` and ``mask``.

        ``n_freq`` / ``n_time`` set the grid of the most important slice (and, for the slice
        method, its occlusion grid); default the configured slice grid.
        """
        if self.clip is None:
            raise AudioInterpError("no clip loaded yet: pick a clip first")
        overrides = None
        method_cls = _method_class(method)
        if method_cls.explains_region and (n_freq or n_time):
            configured = self.explainer.options(method)
            overrides = {
                "n_freq": int(n_freq or configured.get("n_freq", 3)),
                "n_time": int(n_time or configured.get("n_time", 3)),
            }
        self.explanation = self.explainer.explain(
            self.clip, method, masks=[mask], overrides=overrides, n_freq=n_freq, n_time=n_time
        )[mask]
        return self.explanation


def _method_class(name: str) -> Any:
    from audiointerp.interpretation import method_class

    return method_class(name)


def metrics_html(values: Mapping[str, float]) -> str:
    """A small HTML table of an explanation's metrics with their units."""
    units = {"AI": "%", "AD": "%", "AG": "%", "COMP": "nats"}
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v:.4g} {units.get(k, '')}</td></tr>"
        for k, v in values.items()
    )
    return f"<table>{cells}</table>"


class Explorer:
    """The ipywidgets app around an :class:`ExplorerSession`.

    Parameters
    ----------
    classifier, data
        See :class:`ExplorerSession` (or pass ``session=``).
    methods, masks : sequence of str, optional
        Choices offered (default: every method and the 14 masks).
    session : ExplorerSession, optional
        An existing session (then ``classifier``/``data`` are ignored).
    **options
        Passed to :class:`ExplorerSession`.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The app; display it in a notebook.
    """

    def __init__(
        self,
        classifier: str | Path | Any = None,
        data: str | Path | Any = None,
        *,
        methods: Sequence[str] | None = None,
        masks: Sequence[str] | None = None,
        session: ExplorerSession | None = None,
        **options: Any,
    ) -> None:
        import ipywidgets as w

        from audiointerp.interpretation import MASK_NAMES

        self.session = session or ExplorerSession(classifier, data, **options)
        ds = self.session.dataset
        self.source = w.ToggleButtons(options=list(SOURCES), value="random", description="clip")
        self.category = w.Dropdown(options=list(ds.classes), description="class")
        self.name = w.Combobox(
            options=[c.id for c in ds.clips],
            placeholder="file name or id",
            description="name",
            ensure_option=False,
        )
        self.load_button = w.Button(description="Load clip", button_style="primary")
        offered = methods or self.session.methods
        self.method = w.Dropdown(options=list(offered), description="method")
        self.mask = w.Dropdown(options=list(masks or MASK_NAMES), description="mask")
        self.n_time = w.IntSlider(value=3, min=1, max=12, description="time slices")
        self.n_freq = w.IntSlider(value=3, min=1, max=12, description="freq slices")
        self.compute_button = w.Button(description="Compute", button_style="success", disabled=True)
        self.status = w.HTML()
        self.clip_image = w.Image(format="png")
        self.original_audio = w.Audio(format="wav", autoplay=False, loop=False)
        self.result_image = w.Image(format="png")
        self.audio_in = w.Audio(format="wav", autoplay=False, loop=False)
        self.audio_out = w.Audio(format="wav", autoplay=False, loop=False)
        self.audio_slice = w.Audio(format="wav", autoplay=False, loop=False)
        self.metrics = w.HTML()
        self.load_button.on_click(self.on_load)
        self.compute_button.on_click(self.on_compute)
        self.source.observe(self._sync_source, names="value")
        self._sync_source()

        def labelled(label: str, widget: Any) -> Any:
            return w.VBox([w.Label(label), widget])

        self.widget = w.VBox(
            [
                w.HBox([self.source, self.category, self.name, self.load_button]),
                w.HBox([self.clip_image, labelled("original", self.original_audio)]),
                w.HBox([self.method, self.mask, self.n_time, self.n_freq, self.compute_button]),
                self.status,
                self.result_image,
                w.HBox(
                    [
                        labelled("masked-in", self.audio_in),
                        labelled("masked-out", self.audio_out),
                        labelled("most important slice", self.audio_slice),
                        self.metrics,
                    ]
                ),
            ]
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _sync_source(self, _change: object = None) -> None:
        self.category.disabled = self.source.value != "random from class"
        self.name.disabled = self.source.value != "by name"

    def _error(self, exc: Exception) -> None:
        self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
        log.info("explorer: %s", exc)

    def on_load(self, _button: object = None) -> None:
        """Pick a clip from the widgets' choice, show its spectrogram, prediction and audio."""
        from audiointerp.experiments.interactive.figures import clip_figure, figure_bytes
        from audiointerp.experiments.interactive.listening import wav_bytes

        s = self.session
        try:
            clip = s.pick(self.source.value, category=self.category.value, name=self.name.value)
        except AudioInterpError as exc:  # bad name etc.: say so, keep the app alive
            self._error(exc)
            return
        self.clip_image.value = figure_bytes(clip_figure(clip, s.bin_hz), dpi=90)
        self.original_audio.value = wav_bytes(clip.wave, clip.sr)
        top = ", ".join(f"{c} {p:.2f}" for c, p in clip.top(3))
        truth = f"; true class {clip.true_class}" if clip.true_class else ""
        self.status.value = (
            f"<b>{html.escape(clip.clip_id)}</b>: {html.escape(top)}{html.escape(truth)}"
        )
        for audio in (self.audio_in, self.audio_out, self.audio_slice):
            audio.value = b""
        self.result_image.value = b""
        self.metrics.value = ""
        self.compute_button.disabled = False

    def on_compute(self, _button: object = None) -> None:
        """Explain the current clip with the chosen method and mask; show maps, audio, metrics."""
        from audiointerp.experiments.interactive.figures import explanation_figure, figure_bytes
        from audiointerp.experiments.interactive.listening import wav_bytes

        s = self.session
        self.status.value = "computing..."
        try:
            ex = s.explain(
                self.method.value,
                self.mask.value,
                n_freq=self.n_freq.value,
                n_time=self.n_time.value,
            )
        except AudioInterpError as exc:
            self._error(exc)
            return
        clip = s.clip
        self.result_image.value = figure_bytes(explanation_figure(clip, ex, s.bin_hz), dpi=90)
        # One gain for the three versions so their loudness can be compared by ear.
        peak = max(float(np.abs(y).max()) for y in (ex.audio_in, ex.audio_out, ex.rect_audio))
        gain = min(1.0, 0.99 / peak) if peak > 0 else 1.0
        self.audio_in.value = wav_bytes(gain * ex.audio_in, clip.sr)
        self.audio_out.value = wav_bytes(gain * ex.audio_out, clip.sr)
        self.audio_slice.value = wav_bytes(gain * ex.rect_audio, clip.sr)
        self.metrics.value = metrics_html(ex.metrics)
        self.status.value = (
            f"<b>{html.escape(clip.clip_id)}</b>: {html.escape(ex.method)} / "
            f"{html.escape(ex.mask_name)} done"
        )
