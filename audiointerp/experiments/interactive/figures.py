"""Spectrogram, attribution and masked-spectrogram plots with a frequency axis in Hz.

Shared by the illustration figure and the explorer. Feature rows are drawn equally spaced, as
the model sees them (mel bands stay mel-spaced), with tick labels in Hz at round frequencies.
Functions take a Matplotlib ``Axes`` and return the image artist; nothing here calls
``pyplot.show`` or picks a backend.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from audiointerp.experiments.interactive.clip import ClipAnalysis, ClipExplanation

__all__ = [
    "clip_figure",
    "explanation_figure",
    "figure_bytes",
    "illustration_figure",
    "plot_attribution",
    "plot_spectrogram",
    "set_hz_axis",
    "unknown_label_line",
]

_NICE_HZ = (50, 100, 200, 500, 1000, 2000, 4000, 8000, 16000)


def unknown_label_line(clip: ClipAnalysis) -> str:
    """A title line for a clip whose label the model does not know (``""`` otherwise)."""
    if not clip.unknown_class:
        return ""
    return f"\nlabel {clip.category!r} is not a class of this model"


def set_hz_axis(ax: Axes, bin_hz: np.ndarray, *, label: bool = True) -> None:
    """Label the rows of an image by their frequency in Hz (round values, interpolated).

    Parameters
    ----------
    ax : Axes
        Axes of an image whose row ``i`` is centred at ``y = i``.
    bin_hz : np.ndarray (F,)
        Frequency of each row (``Frontend.bin_frequencies_hz()``), increasing.
    """
    ticks, pos = [], []
    for hz in _NICE_HZ:
        if not bin_hz[0] <= hz <= bin_hz[-1]:
            continue
        y = float(np.interp(hz, bin_hz, np.arange(len(bin_hz))))
        if not pos or y - pos[-1] >= 0.08 * len(bin_hz):  # no overlapping labels (mel bottom)
            ticks.append(hz)
            pos.append(y)
    ax.set_yticks(pos, [f"{hz // 1000}k" if hz >= 1000 else str(hz) for hz in ticks])
    if label:
        ax.set_ylabel("frequency (Hz)")


def _image(
    ax: Axes, values: np.ndarray, bin_hz: np.ndarray, duration_s: float, **kwargs: Any
) -> Any:
    extent = (0.0, duration_s, -0.5, values.shape[0] - 0.5)
    im = ax.imshow(
        values, origin="lower", aspect="auto", extent=extent, interpolation="nearest", **kwargs
    )
    set_hz_axis(ax, bin_hz)
    ax.set_xlabel("time (s)")
    return im


def plot_spectrogram(
    ax: Axes,
    features: np.ndarray,
    bin_hz: np.ndarray,
    *,
    duration_s: float,
    title: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "magma",
) -> Any:
    """Draw a (masked) log spectrogram ``(F, T)`` in dB; returns the image."""
    im = _image(ax, features, bin_hz, duration_s, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title, fontsize=9)
    return im


def plot_attribution(
    ax: Axes,
    attribution: np.ndarray,
    bin_hz: np.ndarray,
    *,
    duration_s: float,
    title: str = "",
    rect: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> Any:
    """Draw a signed attribution ``(F, T)`` with a diverging map centred at 0.

    ``rect`` ``((f0, f1), (t0, t1))`` (feature indices, end-exclusive) is outlined in green.
    """
    lim = float(np.abs(attribution).max()) or 1.0
    im = _image(ax, attribution, bin_hz, duration_s, cmap="RdBu_r", vmin=-lim, vmax=lim)
    if rect is not None:
        from matplotlib.patches import Rectangle

        (f0, f1), (t0, t1) = rect
        dt = duration_s / attribution.shape[1]
        ax.add_patch(
            Rectangle(
                (t0 * dt, f0 - 0.5),
                (t1 - t0) * dt,
                f1 - f0,
                fill=False,
                edgecolor="lime",
                linewidth=1.5,
            )
        )
    ax.set_title(title, fontsize=9)
    return im


def illustration_figure(
    clip: ClipAnalysis,
    explanations: Mapping[str, Mapping[str, ClipExplanation]],
    bin_hz: np.ndarray,
    *,
    masks: Sequence[str],
    panel_size: tuple[float, float] = (2.6, 1.9),
) -> Figure:
    """The paper-style figure: the original beside each method's masked spectrograms.

    Layout: row 0 holds the original spectrogram and each method's attribution map; each
    further row is one mask, with each method's masked-in spectrogram (same dB colour scale as
    the original).

    Parameters
    ----------
    clip : ClipAnalysis
    explanations : mapping method -> mask -> ClipExplanation
        From :meth:`~audiointerp.experiments.interactive.clip.ClipExplainer.explain`.
    bin_hz : np.ndarray (F,)
        Row frequencies in Hz.
    masks : sequence of str
        Masks to show, one row each.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    methods = list(explanations)
    n_rows, n_cols = 1 + len(masks), 1 + len(methods)
    fig = Figure(figsize=(panel_size[0] * n_cols, panel_size[1] * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    x = clip.features[0, 0].detach().cpu().numpy()
    duration_s = len(clip.wave) / clip.sr
    vmin, vmax = float(x.min()), float(x.max())
    im = plot_spectrogram(
        axes[0, 0],
        x,
        bin_hz,
        duration_s=duration_s,
        vmin=vmin,
        vmax=vmax,
        title=f"original: {clip.clip_id}\npredicted {clip.predicted_class} "
        f"({clip.probs[clip.prediction]:.2f})" + unknown_label_line(clip),
    )
    fig.colorbar(im, ax=axes[0, 0], label="dB", fraction=0.05)
    for j, method in enumerate(methods, start=1):
        first = explanations[method][masks[0]]
        plot_attribution(
            axes[0, j],
            first.attribution,
            bin_hz,
            duration_s=duration_s,
            title=f"{method}: attribution",
            rect=first.rect,
        )
        for i, mask in enumerate(masks, start=1):
            ex = explanations[method][mask]
            m = ex.metrics
            plot_spectrogram(
                axes[i, j],
                ex.masked_in,
                bin_hz,
                duration_s=duration_s,
                vmin=vmin,
                vmax=vmax,
                title=f"{method} / {mask}\np_in {m['p_in']:.2f}  p_out {m['p_out']:.2f}",
            )
    for i, mask in enumerate(masks, start=1):
        ax = axes[i, 0]
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"mask:\n{mask}",
            ha="center",
            va="center",
            fontsize=11,
            transform=ax.transAxes,
        )
    for ax in axes[:, 2:].flat:  # one frequency axis label per row is enough
        ax.set_ylabel("")
    for ax in axes[:-1, 1:].flat:
        ax.set_xlabel("")
    return fig


def figure_bytes(fig: Figure, *, fmt: str = "png", dpi: int = 200) -> bytes:
    """Render a figure to bytes (PNG, PDF or SVG) without pyplot."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def clip_figure(
    clip: ClipAnalysis, bin_hz: np.ndarray, *, size: tuple[float, float] = (6.0, 2.6)
) -> Figure:
    """The clip's spectrogram titled with the model's prediction (explorer)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    x = clip.features[0, 0].detach().cpu().numpy()
    truth = f" (true: {clip.true_class})" if clip.true_class else ""
    im = plot_spectrogram(
        ax,
        x,
        bin_hz,
        duration_s=len(clip.wave) / clip.sr,
        title=f"{clip.clip_id}: predicted {clip.predicted_class} "
        f"p={clip.probs[clip.prediction]:.2f}{truth}" + unknown_label_line(clip),
    )
    fig.colorbar(im, ax=ax, label="dB")
    return fig


def explanation_figure(
    clip: ClipAnalysis,
    ex: ClipExplanation,
    bin_hz: np.ndarray,
    *,
    size: tuple[float, float] = (12.0, 2.8),
) -> Figure:
    """Attribution (with the most important slice outlined), masked-in and masked-out spectrograms."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(1, 3)
    x = clip.features[0, 0].detach().cpu().numpy()
    d = len(clip.wave) / clip.sr
    vmin, vmax = float(x.min()), float(x.max())
    plot_attribution(
        axes[0],
        ex.attribution,
        bin_hz,
        duration_s=d,
        rect=ex.rect,
        title=f"{ex.method} attribution (green: most important slice)",
    )
    plot_spectrogram(
        axes[1],
        ex.masked_in,
        bin_hz,
        duration_s=d,
        vmin=vmin,
        vmax=vmax,
        title=f"masked-in ({ex.mask_name}): p={ex.metrics['p_in']:.2f}",
    )
    plot_spectrogram(
        axes[2],
        ex.masked_out,
        bin_hz,
        duration_s=d,
        vmin=vmin,
        vmax=vmax,
        title=f"masked-out: p={ex.metrics['p_out']:.2f}",
    )
    return fig
