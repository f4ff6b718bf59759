"""A self-contained HTML listening page: the figure and every audio version embedded inline.

The figure (PNG) and each clip (FLAC) are base64 ``data:`` URIs, so the single file opens in
any browser without Jupyter, a server or the folder it was written in.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

__all__ = [
    "LISTENING_PEAK",
    "PageSection",
    "audio_bytes",
    "audio_data_uri",
    "listening_gain",
    "listening_page",
    "wav_bytes",
]

#: Peak of the loudest version of a clip in audio written for listening: -1 dBFS, the usual
#: headroom, so that no sample (and no peak between samples, once resampled by a player) clips.
LISTENING_PEAK = 10 ** (-1 / 20)

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; } audio { width: 220px; height: 32px; display: block; }
.metrics { font-size: 0.8em; color: #555; } .note { background: #f8f8f8; padding: 0.6em; }
"""


def listening_gain(*signals: np.ndarray | None, peak: float = LISTENING_PEAK) -> float:
    """The one gain for every version of a clip (original, masked-in/out, slice).

    The loudest of ``signals`` comes out at ``peak``; quieter sets are never amplified (gain
    at most 1), so relative loudness between versions, and between the clip and its parts, is
    what the model heard. Masked audio can be louder than the input (phases no longer cancel),
    which is why the gain is computed over every version, not the input alone.

    Parameters
    ----------
    *signals : np.ndarray or None
        The versions, any shapes (``None`` entries are ignored).
    peak : float
        Target peak of the loudest version.

    Returns
    -------
    float
        In ``(0, 1]``.
    """
    top = max((float(np.abs(y).max()) for y in signals if y is not None and np.size(y)), default=0)
    return min(1.0, peak / top) if top > 0 else 1.0


def audio_bytes(y: np.ndarray, sr: int, *, fmt: str = "WAV") -> bytes:
    """16-bit PCM ``fmt`` ("WAV" or "FLAC") of a mono signal ``(N,)`` (clipped to [-1, 1])."""
    buf = io.BytesIO()
    sf.write(
        buf,
        np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0),
        int(sr),
        format=fmt,
        subtype="PCM_16",
    )
    return buf.getvalue()


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV of a mono signal ``(N,)`` (values clipped to [-1, 1])."""
    return audio_bytes(y, sr, fmt="WAV")


def audio_data_uri(y: np.ndarray, sr: int) -> str:
    """``data:audio/flac;base64,...`` for an ``<audio>`` element.

    FLAC is lossless like WAV (what you hear is the mask's audio, bit for bit at 16 bits) and
    about half the size on these clips; every current browser plays it.
    """
    return "data:audio/flac;base64," + base64.b64encode(audio_bytes(y, sr, fmt="FLAC")).decode(
        "ascii"
    )


ORIGINAL_LABEL = "original (the model input: resampled, mono, peak-normalised)"


def _audio(uri: str, label: str) -> str:
    return f'<div>{html.escape(label)}<audio controls preload="none" src="{uri}"></audio></div>'


def _metrics(values: Mapping[str, float]) -> str:
    keys = ("p_in", "p_out", "FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP")
    return (
        '<div class="metrics">'
        + ", ".join(f"{k} {values[k]:.3g}" for k in keys if k in values)
        + "</div>"
    )


@dataclass
class PageSection:
    """One model's part of the page: its figure, the original audio and every version.

    ``versions`` maps method -> mask -> ``{"in": (N,), "out": (N,), "slice": (N,) or None,
    "metrics": dict}``.
    """

    heading: str
    summary: str
    figure_png: bytes
    sr: int
    original: np.ndarray
    versions: Mapping[str, Mapping[str, Mapping[str, object]]]
    masks: Sequence[str]


def _section(sec: PageSection) -> str:
    img = "data:image/png;base64," + base64.b64encode(sec.figure_png).decode("ascii")
    head = "".join(f"<th>{html.escape(m)}</th>" for m in sec.masks)
    rows = []
    for method, by_mask in sec.versions.items():
        cells = []
        for mask in sec.masks:
            v = by_mask.get(mask)
            if v is None:  # e.g. `native` for a method without its own mask
                cells.append("<td>-</td>")
                continue
            cells.append(
                "<td>"
                + _audio(audio_data_uri(v["in"], sec.sr), "masked-in")
                + _audio(audio_data_uri(v["out"], sec.sr), "masked-out")
                + _metrics(v["metrics"])
                + "</td>"
            )
        first = next(iter(by_mask.values()))
        slice_html = ""
        if first.get("slice") is not None:
            slice_html = _audio(audio_data_uri(first["slice"], sec.sr), "most important slice")
        rows.append(f"<tr><th>{html.escape(method)}{slice_html}</th>{''.join(cells)}</tr>")
    return (
        f'<h2>{html.escape(sec.heading)}</h2>\n<p class="note">{html.escape(sec.summary)}</p>\n'
        f"{_audio(audio_data_uri(sec.original, sec.sr), ORIGINAL_LABEL)}\n"
        f'<p><img alt="original and masked spectrograms" src="{img}"></p>\n'
        f"<table><tr><th>method</th>{head}</tr>\n" + "\n".join(rows) + "\n</table>\n"
    )


def listening_page(sections: Sequence[PageSection], *, title: str) -> str:
    """Build the HTML page: one section (figure, players, metrics) per model.

    Parameters
    ----------
    sections : sequence of PageSection
    title : str
        Page title.

    Returns
    -------
    str
        A complete HTML document with no external references.
    """
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        "<p>Masked-in: only what the mask keeps; masked-out: everything but that. Metrics: "
        "p_in / p_out = probability of the predicted class; FF, FidIn, SPS in [0, 1]; AI, AD, AG "
        "in percent; COMP in nats. The most important slice is the grid rectangle the method "
        "ranks highest (for the slice method: whose occlusion lowers the prediction most), made "
        "audible by band- and time-limiting the audio.</p>\n"
        + "\n".join(_section(s) for s in sections)
        + "</body></html>\n"
    )
