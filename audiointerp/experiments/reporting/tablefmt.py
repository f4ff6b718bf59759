"""Render :class:`~audiointerp.experiments.reporting.tables.MetricTable` objects: CSV, LaTeX, HTML.

Cells read ``mean [low, high]`` (95 % bootstrap CI). Best values are bold (green in HTML), worst
values italic (red in HTML); ``*`` marks a best value significantly better than the runner-up
and ``+E`` / ``+R`` (a baseline's initial) a value significantly better than that baseline
(paired tests over clip ids, Holm-corrected within the table); ``(n=k)`` says how many clips
a mean has when some values are undefined. A ``degenerate`` column gives each row's share of
constant or near-constant masks when a table has any. The plain-text CSV uses ``▲`` (best)
and ``▼`` (worst) instead of colours.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from audiointerp.experiments.reporting.tables import MetricTable

__all__ = [
    "baseline_marks",
    "format_table",
    "html_page",
    "styler",
    "to_html",
    "to_latex",
    "with_markers",
]

#: What :func:`format_table` returns: display text, best and worst cells.
Formatted = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]

#: Decimals per metric: percentages with 1, [0, 1] scores with 3, nats and dB with 2.
DECIMALS: dict[str, int] = {
    "FF": 3,
    "AI": 1,
    "AD": 1,
    "AG": 1,
    "FidIn": 3,
    "SPS": 3,
    "COMP": 2,
    "loc_auc": 3,
    "relevance_mass": 3,
    "si_sdr": 2,
    "si_sdri": 2,
    "deletion_floor": 3,
    "insertion_floor": 3,
    "deletion_road": 3,
    "insertion_road": 3,
}
UNITS: dict[str, str] = {
    "FF": "",
    "AI": " (%)",
    "AD": " (%)",
    "AG": " (%)",
    "FidIn": "",
    "SPS": "",
    "COMP": " (nats)",
    "loc_auc": "",
    "relevance_mass": "",
    "si_sdr": " (dB)",
    "si_sdri": " (dB)",
}
ARROWS: dict[str, str] = {"AD": "↓", "COMP": "↓", "deletion_floor": "↓", "deletion_road": "↓"}
BEST_CSS = "font-weight: bold; background-color: #d9f2d9"
WORST_CSS = "font-style: italic; background-color: #f9dede"
PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 2em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } .legend { background: #f8f8f8; padding: 0.6em; }
td.best { font-weight: bold; background-color: #d9f2d9; }
td.worst { font-style: italic; background-color: #f9dede; }
.note { color: #444; font-style: italic; } nav ol { columns: 2; max-width: 40em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; }
"""


def header(metric: str) -> str:
    """Column header: metric name, unit and direction (↑ higher is better, ↓ lower)."""
    return f"{metric}{UNITS.get(metric, '')} {ARROWS.get(metric, '↑')}"


def _cell(mean: float, low: float, high: float, decimals: int) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.{decimals}f} [{low:.{decimals}f}, {high:.{decimals}f}]"


def baseline_marks(baselines: tuple[str, ...]) -> dict[str, str]:
    """Marker per baseline: ``+`` and its initial (``+E``), the full name where initials clash."""
    initials = [b[:1].upper() for b in baselines]
    return {
        b: f"+{i}" if initials.count(i) == 1 else f"+{b}"
        for b, i in zip(baselines, initials, strict=True)
    }


def _marks(cells: pd.DataFrame, baselines: tuple[str, ...]) -> list[str]:
    out = [("*" if sig else "") for sig in cells["significant"].to_numpy()]
    for b, mark in baseline_marks(baselines).items():
        col = f"beats_{b}"
        if col in cells.columns:
            beats = cells[col].to_numpy()
            out = [t + (" " + mark if hit else "") for t, hit in zip(out, beats, strict=True)]
    if "n_undefined" in cells.columns:
        undefined, n = cells["n_undefined"].to_numpy(), cells["n"].to_numpy()
        out = [t + (f" (n={k})" if u else "") for t, u, k in zip(out, undefined, n, strict=True)]
    return out


def format_table(
    table: MetricTable, *, markers: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Wide display frame of a table and its best/worst masks.

    Parameters
    ----------
    table : MetricTable
        The table to format.
    markers : bool
        Append ``▲``/``▼`` to best/worst cells (for plain-text outputs).

    Returns
    -------
    text, best, worst : pd.DataFrame
        Index ``(*block, row)``; ``text`` holds strings, ``best``/``worst`` booleans, columns are
        the metric headers (``extra`` label columns come first in ``text``).
    """
    cells = table.cells.copy()
    cells["text"] = [
        _cell(m, lo, hi, DECIMALS.get(metric, 3)) + mark
        for (m, lo, hi, metric), mark in zip(
            cells[["mean", "low", "high", "metric"]].itertuples(index=False),
            _marks(cells, table.baselines),
            strict=True,
        )
    ]
    index = [*table.block, table.row]
    cells["metric"] = pd.Categorical(
        cells["metric"].map(header), [header(m) for m in table.metrics]
    )

    def wide(col: str) -> pd.DataFrame:
        out = cells.pivot_table(
            index=index, columns="metric", values=col, aggfunc="first", observed=True, sort=True
        )
        out.columns = out.columns.astype(str)
        out.columns.name = None
        return out

    text, best, worst = wide("text"), wide("best").astype(bool), wide("worst").astype(bool)
    extra = list(table.extra)
    if "degenerate" in cells.columns and (cells["degenerate"] > 0).any():
        extra.append("degenerate")
    for col in reversed(extra):
        labels = cells.groupby(index, observed=True, sort=True)[col].first().reindex(text.index)
        if col == "degenerate":
            labels = labels.map(lambda v: f"{v:.0%}" if v > 0 else "")
        text.insert(0, col, labels.astype(str).to_numpy())
        best.insert(0, col, False)
        worst.insert(0, col, False)
    if markers:
        text = with_markers(text, best, worst)
    return text, best, worst


def with_markers(text: pd.DataFrame, best: pd.DataFrame, worst: pd.DataFrame) -> pd.DataFrame:
    """``text`` of :func:`format_table` with ``▲`` after best and ``▼`` after worst cells."""
    text = text.where(~best.to_numpy(), text + " ▲")
    return text.where(~worst.to_numpy(), text + " ▼")


def styler(table: MetricTable) -> Styler:
    """A pandas Styler with best cells bold (green) and worst cells italic (red)."""
    text, best, worst = format_table(table)
    css = pd.DataFrame("", index=text.index, columns=text.columns)
    css = css.mask(best, BEST_CSS).mask(worst, WORST_CSS)
    return text.style.apply(lambda _: css, axis=None)


_LATEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
          "\\": r"\textbackslash{}", "↑": r"$\uparrow$", "↓": r"$\downarrow$"}  # fmt: skip


_LATEX_TABLE = str.maketrans(_LATEX)


def _tex(value: object) -> str:
    return str(value).translate(_LATEX_TABLE)


def _rows(text: pd.DataFrame):
    """Index values per row, blank where they repeat the row above (grouped display)."""
    prev: tuple = ()
    for key in text.index:
        key = key if isinstance(key, tuple) else (key,)
        shown = []
        same = True
        for i, v in enumerate(key):
            same = same and i < len(prev) and prev[i] == v
            shown.append("" if same else v)
        prev = key
        yield shown


def to_latex(table: MetricTable, formatted: Formatted | None = None) -> str:
    """LaTeX ``tabular`` of a table (``\\bfseries`` best, ``\\itshape`` worst).

    Written directly (pandas' Styler took seconds per table on the demo). Needs
    ``\\usepackage{booktabs}`` in the document. ``formatted``: the table's
    :func:`format_table` (without markers), when the caller has it already.
    """
    text, best, worst = formatted or format_table(table)
    names = [str(n) for n in text.index.names]
    cols = [str(c) for c in text.columns]
    lines = [
        "\\begin{tabular}{" + "l" * len(names) + "r" * len(cols) + "}",
        "\\toprule",
        " & ".join(_tex(c) for c in (*names, *cols)) + " \\\\",
        "\\midrule",
    ]
    values, b, w = text.to_numpy(), best.to_numpy(), worst.to_numpy()
    for i, shown in enumerate(_rows(text)):
        if i and shown[0] != "":
            lines.append("\\midrule")
        cells = []
        for j in range(len(cols)):
            cell = _tex(values[i, j])
            if b[i, j]:
                cell = "\\bfseries " + cell
            elif w[i, j]:
                cell = "\\itshape " + cell
            cells.append(cell)
        lines.append(" & ".join([*map(_tex, shown), *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def to_html(table: MetricTable, formatted: Formatted | None = None) -> str:
    """HTML ``<table>`` of a table: best cells ``class="best"``, worst ``class="worst"``.

    Written directly for the page (the Styler, :func:`styler`, is for notebooks): same look,
    a fraction of the time. ``formatted``: as in :func:`to_latex`.
    """
    text, best, worst = formatted or format_table(table)
    names = [str(n) for n in text.index.names]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (*names, *map(str, text.columns)))
    values, b, w = text.to_numpy(), best.to_numpy(), worst.to_numpy()
    body = []
    for i, shown in enumerate(_rows(text)):
        cells = "".join(f"<th>{html.escape(str(v))}</th>" for v in shown)
        for j in range(values.shape[1]):
            cls = ' class="best"' if b[i, j] else (' class="worst"' if w[i, j] else "")
            cells += f"<td{cls}>{html.escape(str(values[i, j]))}</td>"
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_page(
    sections: Mapping[str, tuple[str, str, str]],
    *,
    title: str,
    intro: str = "",
) -> str:
    """A self-contained HTML page (inline CSS, no links) with one section per table.

    Parameters
    ----------
    sections : mapping of str to (title, description, html)
        Anchor name to the section's heading, paragraph and already-rendered table HTML.
    title : str
        Page title.
    intro : str
        An HTML fragment shown under the title (legend, provenance).
    """
    nav = "".join(
        f'<li><a href="#{html.escape(k)}">{html.escape(t)}</a></li>'
        for k, (t, _, _) in sections.items()
    )
    body = "\n".join(
        f'<h2 id="{html.escape(k)}">{html.escape(t)}</h2>\n'
        + (f"<p>{html.escape(d)}</p>\n" if d else "")
        + frag
        for k, (t, d, frag) in sections.items()
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{intro}\n<nav><b>Contents</b><ol>{nav}</ol></nav>\n"
        f"{body}\n</body></html>\n"
    )
