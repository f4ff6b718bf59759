"""The interactive explorer: pick a clip, listen, explain it with a method and a mask.

Two layers, both testable without a browser:

- :class:`~.explorer_session.ExplorerSession` is the compute core (no widgets).
- :class:`Explorer` wires ipywidgets to a session. Its button handlers (:meth:`Explorer.on_load`,
  :meth:`Explorer.on_compute`) only read widget values, call the session and write results
  into widgets (PNG images, WAV audio players, an HTML metrics table), so a test can set
  values, call a handler and inspect the widgets. Widgets without content are hidden (no
  broken-image icons before a clip is loaded), and while a clip loads or a method computes the
  app shows a "computing" state with its buttons disabled.

Notebook 07 and ``audiointerp explore`` build it with
:func:`~audiointerp.experiments.interactive.explorer_app.build_explorer`.

In a notebook::

    from audiointerp.experiments.interactive.explorer import Explorer
    Explorer("weights/default_mel.pt", "data/synth").widget   # display it
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.interactive.explorer_session import (
    FILL_CHOICES,
    SOURCES,
    ExplorerSession,
    takes_option,
)

log = logging.getLogger(__name__)

__all__ = ["SOURCES", "Explorer", "ExplorerSession", "metrics_html"]

#: Slider range of the most-important-slice grid (time and frequency slices).
SLICES = (1, 6)
_SPIN = (
    "<style>@keyframes audiointerp-spin{to{transform:rotate(360deg)}}</style>"
    '<span style="display:inline-block;width:0.8em;height:0.8em;margin-right:0.4em;'
    "border:2px solid #888;border-top-color:transparent;border-radius:50%;"
    'animation:audiointerp-spin 0.8s linear infinite"></span>'
)


def metrics_html(values: Mapping[str, float]) -> str:
    """A small HTML table of an explanation's metrics with their units."""
    units = {"AI": "%", "AD": "%", "AG": "%", "COMP": "nats", "si_sdr": "dB", "si_sdri": "dB"}
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v:.4g} {units.get(k, '')}</td></tr>"
        for k, v in values.items()
    )
    return f"<table>{cells}</table>"


def _note(text: str) -> str:
    return f'<div style="background:#fff4ce;padding:4px 8px;margin:2px 0">{html.escape(text)}</div>'


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
        The app; display it in a notebook. Its parts carry CSS classes ``audiointerp-*``
        (``audiointerp-load``, ``audiointerp-result-image``...) for browser tests.
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
        self.fill = w.Dropdown(options=list(FILL_CHOICES.items()), description="slice fill")
        lo, hi = SLICES
        self.n_time = w.IntSlider(value=3, min=lo, max=hi, description="time slices")
        self.n_freq = w.IntSlider(value=3, min=lo, max=hi, description="freq slices")
        self.compute_button = w.Button(description="Compute", button_style="success", disabled=True)
        self.status = w.HTML("Choose a clip and press <b>Load clip</b>.")
        self.notes = w.HTML(_context_notes(self.session.notes))
        self.clip_info = w.HTML()
        self.clip_image = w.Image(format="png")
        self.original_audio = w.Audio(format="wav", autoplay=False, loop=False)
        self.result_image = w.Image(format="png")
        self.audio_in = w.Audio(format="wav", autoplay=False, loop=False)
        self.audio_out = w.Audio(format="wav", autoplay=False, loop=False)
        self.audio_slice = w.Audio(format="wav", autoplay=False, loop=False)
        self.metrics = w.HTML()
        self._gain = 1.0  # the current clip's listening gain (one for all its versions)
        self.load_button.on_click(self.on_load)
        self.compute_button.on_click(self.on_compute)
        self.source.observe(self._sync_source, names="value")
        self.method.observe(self._sync_method, names="value")
        self._sync_source()
        self._sync_method()

        def labelled(label: str, widget: Any) -> Any:
            return w.VBox([w.HTML(f"<b>{html.escape(label)}</b>"), widget])

        self.clip_box = w.VBox(
            [
                self.clip_info,
                w.HBox(
                    [
                        self.clip_image,
                        labelled(
                            "model input (resampled, mono, peak-normalised)", self.original_audio
                        ),
                    ]
                ),
            ]
        )
        self.result_box = w.VBox(
            [
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
        for part in (self.clip_box, self.result_box):
            part.layout.display = "none"  # nothing to show yet: no empty (broken) images
        names = {
            "source": self.source,
            "category": self.category,
            "name": self.name,
            "load": self.load_button,
            "method": self.method,
            "mask": self.mask,
            "fill": self.fill,
            "n-time": self.n_time,
            "n-freq": self.n_freq,
            "compute": self.compute_button,
            "status": self.status,
            "notes": self.notes,
            "clip-info": self.clip_info,
            "clip-image": self.clip_image,
            "original-audio": self.original_audio,
            "result-image": self.result_image,
            "audio-in": self.audio_in,
            "audio-out": self.audio_out,
            "audio-slice": self.audio_slice,
            "metrics": self.metrics,
        }
        for key, widget in names.items():
            widget.add_class(f"audiointerp-{key}")
        self.widget = w.VBox(
            [
                w.HBox([self.source, self.category, self.name, self.load_button]),
                self.status,
                self.notes,
                self.clip_box,
                w.HBox([self.method, self.mask, self.fill, self.compute_button]),
                w.HBox([self.n_time, self.n_freq]),
                self.result_box,
            ]
        )
        self.widget.add_class("audiointerp-explorer")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _sync_source(self, _change: object = None) -> None:
        self.category.disabled = self.source.value != "random from class"
        self.name.disabled = self.source.value != "by name"

    def _sync_method(self, _change: object = None) -> None:
        name = self.method.value
        self.fill.disabled = not (
            name and takes_option(name, "fill", self.session.explainer.options(name))
        )

    def _busy(self, message: str) -> None:
        """Show that something is computing; keep the buttons from being pressed twice."""
        self.status.value = f"{_SPIN}{html.escape(message)}"
        self.load_button.disabled = self.compute_button.disabled = True

    def _idle(self) -> None:
        self.load_button.disabled = False
        self.compute_button.disabled = self.session.clip is None

    def _error(self, exc: Exception) -> None:
        self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
        log.info("explorer: %s", exc)

    def on_load(self, _button: object = None) -> None:
        """Pick a clip from the widgets' choice, show its spectrogram, prediction and audio."""
        from audiointerp.experiments.interactive.figures import clip_figure, figure_bytes
        from audiointerp.experiments.interactive.listening import listening_gain, wav_bytes

        s = self.session
        what = self.name.value if self.source.value == "by name" else self.source.value
        self._busy(f"loading {what} ...")
        try:
            try:
                clip = s.pick(self.source.value, category=self.category.value, name=self.name.value)
            except AudioInterpError as exc:  # bad name etc.: say so, keep the app alive
                self._error(exc)
                return
            self.result_box.layout.display = "none"
            for audio in (self.audio_in, self.audio_out, self.audio_slice):
                audio.value = b""
            self.result_image.value = b""
            self.metrics.value = ""
            self.clip_image.value = figure_bytes(clip_figure(clip, s.bin_hz), dpi=90)
            self._gain = listening_gain(clip.wave)
            self.original_audio.value = wav_bytes(self._gain * clip.wave, clip.sr)
            self.clip_box.layout.display = None
            top = ", ".join(f"{c} {p:.2f}" for c, p in clip.top(3))
            truth = f"; true class {clip.true_class}" if clip.true_class else ""
            if clip.unknown_class:
                truth = f"; labelled {clip.category} (unknown to the model)"
            self.clip_info.value = (
                f"<b>{html.escape(clip.clip_id)}</b>: {html.escape(top)}{html.escape(truth)}"
                f"<br><small>{html.escape(s.source_description())}</small>"
            )
            self.status.value = (
                f"<b>{html.escape(clip.clip_id)}</b> loaded: choose a method and a mask, then "
                "press <b>Compute</b>."
            )
            self.notes.value = _context_notes(s.notes, clip.label_note)
        finally:
            self._idle()

    def on_compute(self, _button: object = None) -> None:
        """Explain the current clip with the chosen method and mask; show maps, audio, metrics."""
        from audiointerp.experiments.interactive.figures import explanation_figure, figure_bytes
        from audiointerp.experiments.interactive.listening import listening_gain, wav_bytes

        s = self.session
        if s.clip is None:
            self._error(AudioInterpError("no clip loaded yet: press Load clip first"))
            return
        clip = s.clip
        self.result_box.layout.display = "none"  # the previous result is not this one's
        self._busy(f"computing {self.method.value} / {self.mask.value} on {clip.clip_id} ...")
        try:
            try:
                ex = s.explain(
                    self.method.value,
                    self.mask.value,
                    n_freq=self.n_freq.value,
                    n_time=self.n_time.value,
                    fill=None if self.fill.disabled else self.fill.value,
                )
            except AudioInterpError as exc:
                self._error(exc)
                return
            self.result_image.value = figure_bytes(explanation_figure(clip, ex, s.bin_hz), dpi=90)
            # One gain for the input and the three versions, so loudness compares by ear and
            # nothing clips (masked audio can be louder than the input).
            gain = listening_gain(clip.wave, ex.audio_in, ex.audio_out, ex.rect_audio)
            if gain != self._gain:
                self._gain = gain
                self.original_audio.value = wav_bytes(gain * clip.wave, clip.sr)
            self.audio_in.value = wav_bytes(gain * ex.audio_in, clip.sr)
            self.audio_out.value = wav_bytes(gain * ex.audio_out, clip.sr)
            self.audio_slice.value = wav_bytes(gain * ex.rect_audio, clip.sr)
            self.metrics.value = metrics_html(ex.metrics)
            self.result_box.layout.display = None
            self.status.value = (
                f"<b>{html.escape(clip.clip_id)}</b>: {html.escape(ex.method)} / "
                f"{html.escape(ex.mask_name)} done; audio scaled by {gain:.3f} (one gain for "
                "the input and every version)"
            )
            self.notes.value = _context_notes(s.notes, clip.label_note)
        finally:
            self._idle()


def _context_notes(notes: Sequence[str], label_note: str | None = None) -> str:
    parts = [_note(f"Note: the clip is {label_note}.")] if label_note else []
    parts += [_note(f"Note: {n}.") for n in notes]
    return "".join(parts)
