"""Figures of the tables page (seaborn): what people would rather look at than read.

Each function takes computed tables (never raw rows it would re-aggregate differently) and
returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so nothing here touches
the user's backend or global state. :func:`save` writes PNG and PDF beside the CSVs.

- :func:`heatmaps`: method x mask mean of every metric, per model (one condition);
  rows with too many degenerate masks are crossed out.
- :func:`condition_bars`: the summary's means with their 95 % intervals, per condition.
- :func:`accuracy_bars`: each model's accuracy (95 % bootstrap interval) per condition.
- :func:`curves`: mean deletion / insertion curves per method with 95 % bands.
- :func:`cascade`: the sanity check's per-layer Spearman correlation with its interval.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from audiointerp.experiments.reporting.tables import MetricTable

__all__ = ["accuracy_bars", "cascade", "condition_bars", "curves", "heatmaps", "png_base64", "save"]


def _figure(n_rows: int, n_cols: int, *, width: float, height: float):
    import seaborn as sns
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sns.set_theme(style="whitegrid", context="paper")
    # fixed margins: constrained layout measured every tick label and took most of the time
    fig = Figure(figsize=(width * n_cols, height * n_rows + 0.5))
    FigureCanvasAgg(fig)  # a canvas that keeps its renderer: text extents without a redraw each
    fig.subplots_adjust(left=0.6 / (width * n_cols), right=0.98, bottom=0.9 / (height * n_rows),
                        top=1 - 0.6 / (height * n_rows + 0.5), wspace=0.45, hspace=0.6)  # fmt: skip
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    return fig, axes


def _palette(names: list[str]) -> dict[str, tuple]:
    import seaborn as sns

    return dict(zip(names, sns.color_palette("tab10", max(len(names), 1)), strict=False))


def _label(metric: str) -> str:
    from audiointerp.experiments.reporting.tablefmt import header

    return header(metric)


def _heatmap(fig: Figure, ax, grid: pd.DataFrame, cmap: str, *, x_labels: bool = True,
             y_labels: bool = True) -> None:  # fmt: skip
    """A labelled heatmap with its colour bar, first row on top (as ``seaborn.heatmap``).

    Own code: ``seaborn.heatmap`` redraws the whole figure on every call to test its tick
    labels for overlap, quadratic in the number of panels (most of the tables step's time).
    An image, not a rasterized mesh: the PDF embeds it as one bitmap instead of rendering a
    raster per panel (3x faster to save).
    """
    values = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    n_rows, n_cols = grid.shape
    image = ax.imshow(values, cmap=cmap, aspect="auto", interpolation="nearest",
                      extent=(0, n_cols, n_rows, 0))  # fmt: skip
    # inner panels get no ticks at all: the edges name every panel's rows and columns, and
    # hundreds of unlabelled tick objects were most of the drawing time
    if x_labels:
        ax.set_xticks(np.arange(n_cols) + 0.5, [str(c) for c in grid.columns], rotation=90)
    else:
        ax.set_xticks([])
    if y_labels:
        ax.set_yticks(np.arange(n_rows) + 0.5, [str(r) for r in grid.index])
    else:
        ax.set_yticks([])
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)
    ax.grid(False)
    fig.colorbar(image, ax=ax)


def heatmaps(table: MetricTable, *, condition: str, max_degenerate: float) -> Figure | None:
    """Method x mask heatmap of each metric (rows: models), for one condition."""
    cells = table.cells[table.cells["condition"].astype(str) == condition]
    if cells.empty:
        return None
    models = [str(m) for m in cells["model"].cat.categories if (cells["model"] == m).any()]
    # one method x mask layout for every panel, so the labels on the edges name every panel's
    methods = [str(m) for m in cells["method"].cat.categories if (cells["method"] == m).any()]
    masks = [str(m) for m in cells["mask"].cat.categories if (cells["mask"] == m).any()]
    metrics = list(table.metrics)
    fig, axes = _figure(len(models), len(metrics), width=3.2, height=2.6)
    keyed = cells.assign(method=cells["method"].astype(str), mask=cells["mask"].astype(str))
    for i, model in enumerate(models):
        part = keyed[keyed["model"].astype(str) == model]
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            m = part[part["metric"] == metric]
            grid = m.set_index(["method", "mask"])["mean"].unstack()
            grid = grid.reindex(index=methods, columns=masks)
            cmap = "viridis" if _higher(metric) else "viridis_r"  # better is always yellow
            _heatmap(fig, ax, grid, cmap, x_labels=i == len(models) - 1, y_labels=j == 0)
            bad = m[m["degenerate"] > max_degenerate]
            rows, cols = list(grid.index.astype(str)), list(grid.columns.astype(str))
            for r, c in zip(bad["method"].astype(str), bad["mask"].astype(str), strict=True):
                if r in rows and c in cols:
                    ax.text(cols.index(c) + 0.5, rows.index(r) + 0.5, "×", ha="center",
                            va="center", color="red", fontsize=9)  # fmt: skip
            ax.set_title(f"{model}: {_label(metric)}", fontsize=8, y=1.0)
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.tick_params(labelsize=6)
    _title(
        fig,
        f"Method x mask means ({condition}); × = more than {max_degenerate:.0%} degenerate masks",
        fontsize=9,
    )
    return fig


def _title(fig: Figure, text: str, **_: object) -> None:
    """Figure title at the top left (the legend takes the top right)."""
    fig.suptitle(text, x=0.01, ha="left", fontsize=9)


def _patches(colors: dict) -> tuple[list, list[str]]:
    """Legend handles of bar charts: one patch per name in the palette's colour."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=c, label=n) for n, c in colors.items()], list(colors)


def _legend(fig: Figure, axes: np.ndarray, colors: dict | None = None) -> None:
    """One legend for the figure, under its title and above the panels (inside an axis it
    hides bars); as many rows as the figure's width needs, the panels moved down to make room.
    Entries: the first panel's labelled artists, or one patch per ``colors`` entry."""
    if colors is None:
        handles, labels = axes[0, 0].get_legend_handles_labels()
    else:
        handles, labels = _patches(colors)
    if not handles:
        return
    width, height = fig.get_size_inches()
    ncol = max(1, min(len(labels), int(width / 1.3)))
    rows = -(-len(labels) // ncol)
    fig.legend(handles, labels, loc="upper right", ncol=ncol, fontsize=7, frameon=False,
               bbox_to_anchor=(0.99, 1 - 0.25 / height))  # fmt: skip
    fig.subplots_adjust(top=1 - (0.55 + 0.16 * rows) / height)


def _higher(metric: str) -> bool:
    from audiointerp.experiments.reporting.resultsio import HIGHER_IS_BETTER

    return HIGHER_IS_BETTER.get(metric, True)


def _bars(ax, cells: pd.DataFrame, x: str, hue: str, colors: dict) -> None:
    xs = [str(v) for v in cells[x].cat.categories if (cells[x] == v).any()]
    hues = [str(v) for v in cells[hue].cat.categories if (cells[hue] == v).any()]
    width = 0.8 / max(len(hues), 1)
    # one hue x x table per statistic, not a frame filter per bar
    keyed = cells.assign(**{x: cells[x].astype(str), hue: cells[hue].astype(str)})
    keyed = keyed.drop_duplicates([hue, x])
    table = {
        c: keyed.pivot(index=hue, columns=x, values=c)
        .reindex(index=hues, columns=xs)
        .to_numpy(float)
        for c in ("mean", "low", "high")
    }
    # every bar of the panel in one call, its intervals in another: a call per hue cost most
    # of the figure's time (the legend is drawn from the palette: :func:`_patches`)
    k, at = np.nonzero(np.isfinite(table["mean"]))
    pos = at - 0.4 + width * (k + 0.5)
    mean, low, high = (table[c][k, at] for c in ("mean", "low", "high"))
    ax.bar(pos, mean, width=width, color=[colors[hues[i]] for i in k])
    err = np.clip([mean - low, high - mean], 0.0, None)  # rounding at constant samples
    ax.errorbar(pos, mean, yerr=err, fmt="none", ecolor="black",
                elinewidth=0.7, capsize=1.5)  # fmt: skip
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs, fontsize=7)


def condition_bars(summary: MetricTable) -> Figure | None:
    """Per condition, each method at its summary mask: mean with its 95 % interval."""
    cells = summary.cells
    if cells["condition"].nunique() < 1 or cells.empty:
        return None
    models = [str(m) for m in cells["model"].cat.categories if (cells["model"] == m).any()]
    methods = [str(m) for m in cells["method"].cat.categories if (cells["method"] == m).any()]
    colors = _palette(methods)
    fig, axes = _figure(len(models), len(summary.metrics), width=2.6, height=2.3)
    for i, model in enumerate(models):
        for j, metric in enumerate(summary.metrics):
            part = cells[(cells["model"].astype(str) == model) & (cells["metric"] == metric)]
            _bars(axes[i, j], part, "condition", "method", colors)
            axes[i, j].set_title(f"{model}: {_label(metric)}", fontsize=8, y=1.0)
    _legend(fig, axes, colors)
    _title(fig, "Summary per condition (each method at its chosen mask), 95 % intervals",
                 fontsize=9)  # fmt: skip
    return fig


def accuracy_bars(accuracy: pd.DataFrame) -> Figure:
    """Accuracy per model and condition (``model, condition, mean, low, high``)."""
    models = [str(m) for m in accuracy["model"].cat.categories if (accuracy["model"] == m).any()]
    fig, axes = _figure(1, 1, width=max(3.5, 1.2 * accuracy["condition"].nunique()), height=2.6)
    colors = _palette(models)
    _bars(axes[0, 0], accuracy, "condition", "model", colors)
    axes[0, 0].set_ylim(0, 1)
    axes[0, 0].set_ylabel("accuracy")
    handles, labels = _patches(colors)
    axes[0, 0].legend(handles, labels, fontsize=7)
    axes[0, 0].set_title("Model accuracy on the explained clips (95 % bootstrap interval)",
                         fontsize=8)  # fmt: skip
    return fig


def curves(table: pd.DataFrame, *, condition: str) -> Figure | None:
    """Mean deletion / insertion curves per method (``model, method, curve, k, mean, low, high``)."""
    part = table[table["condition"].astype(str) == condition]
    if part.empty:
        return None
    models = [str(m) for m in part["model"].cat.categories if (part["model"] == m).any()]
    names = list(dict.fromkeys(part["curve"]))
    methods = [str(m) for m in part["method"].cat.categories if (part["method"] == m).any()]
    colors = _palette(methods)
    fig, axes = _figure(len(models), len(names), width=2.8, height=2.4)
    for i, model in enumerate(models):
        for j, name in enumerate(names):
            ax = axes[i, j]
            for method in methods:
                c = part[(part["model"].astype(str) == model) & (part["curve"] == name)
                         & (part["method"].astype(str) == method)]  # fmt: skip
                if c.empty:
                    continue
                ax.plot(100 * c["k"], c["mean"], color=colors[method], label=method, lw=1.2)
                ax.fill_between(100 * c["k"], c["low"], c["high"], color=colors[method],
                                alpha=0.15, lw=0)  # fmt: skip
            ax.set_title(f"{model}: {name.replace('_', ', ')}", fontsize=8)
            ax.set_xlabel("% of bins removed" if name.startswith("deletion") else "% inserted",
                          fontsize=7)  # fmt: skip
            ax.set_ylabel("p (explained class)", fontsize=7)
            ax.set_ylim(0, 1)
    _legend(fig, axes)
    _title(fig, f"Deletion / insertion curves ({condition}), mean and 95 % band", fontsize=9)
    return fig


def cascade(steps: pd.DataFrame, sanity: pd.DataFrame | None) -> Figure | None:
    """Sanity check: mean |Spearman rho| per randomized layer (top first) with its interval."""
    need = {"model", "method", "step", "rho_mean", "rho_low", "rho_high"}
    if steps is None or not need <= set(steps.columns) or steps.empty:
        return None
    models = list(dict.fromkeys(steps["model"].astype(str)))
    methods = list(dict.fromkeys(steps["method"].astype(str)))
    colors = _palette(methods)
    fig, axes = _figure(1, len(models), width=3.6, height=2.6)
    for i, model in enumerate(models):
        ax = axes[0, i]
        for method in methods:
            c = steps[
                (steps["model"].astype(str) == model) & (steps["method"].astype(str) == method)
            ]
            c = c.sort_values("step")
            if c.empty:
                continue
            ax.plot(c["step"], c["rho_mean"], marker="o", ms=2.5, color=colors[method],
                    label=method, lw=1.2)  # fmt: skip
            ax.fill_between(c["step"], c["rho_low"], c["rho_high"], color=colors[method],
                            alpha=0.15, lw=0)  # fmt: skip
        if sanity is not None and "threshold" in sanity.columns:
            thr = pd.to_numeric(sanity["threshold"], errors="coerce").dropna()
            if len(thr):
                ax.axhline(float(thr.iloc[0]), color="grey", ls="--", lw=0.8)
        ax.set_title(f"{model}: cascading randomization", fontsize=8)
        ax.set_xlabel("layers randomized (top first)", fontsize=7)
        ax.set_ylabel("mean |Spearman rho|", fontsize=7)
        ax.set_ylim(0, 1)
    _legend(fig, axes)
    return fig


def save(fig: Figure, stem: Path, *, dpi: int = 90) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf``; returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        tmp = path.with_name(f".{path.name}.part")
        fig.savefig(tmp, dpi=dpi, format=ext)
        tmp.replace(path)  # atomic, as every table file
        out.append(path)
    return out


def png_base64(path: Path) -> str:
    """A ``data:`` URI of a PNG, for a self-contained page."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
