"""Reading the runner's results for the tables: the tidy table or the paper's CSV layout.

:func:`load_results` accepts what ``audiointerp run`` writes (``results.csv`` in the results
root, or ``<model>/<method>_<condition>/csvs/<mask>.csv``); :func:`prepare_results` checks the
columns and orders models, conditions, methods and masks as the paper does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from audiointerp.errors import DatasetError
from audiointerp.experiments.grid.store import COMBINED_TABLE, KEY_COLUMNS, METRIC_COLUMNS

__all__ = [
    "GT_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "REQUIRED",
    "load_results",
    "load_sanity",
    "prepare_results",
]

#: Fidelity and simplicity metrics, in the paper's column order (the runner's schema).
METRICS: tuple[str, ...] = tuple(METRIC_COLUMNS)
#: Ground-truth metrics of the synthetic benchmark (present only where the data has stems).
GT_METRICS: tuple[str, ...] = ("loc_auc", "relevance_mass", "si_sdri")
#: Direction of each metric: AD (average drop) and COMP (complexity) are better when lower.
HIGHER_IS_BETTER: dict[str, bool] = {
    "FF": True,
    "AI": True,
    "AD": False,
    "AG": True,
    "FidIn": True,
    "SPS": True,
    "COMP": False,
    "loc_auc": True,
    "relevance_mass": True,
    "si_sdr": True,
    "si_sdri": True,
}
#: Columns the tables need; the runner's tidy table (``store``) has them and more.
REQUIRED: tuple[str, ...] = (*KEY_COLUMNS, "label", "prediction", "correct", *METRICS)


def _order(values: Sequence[object], canonical: Sequence[str]) -> list[object]:
    seen = list(dict.fromkeys(values))
    return [v for v in canonical if v in seen] + [v for v in seen if v not in canonical]


def canonical_orders() -> dict[str, tuple[str, ...]]:
    """Display order of the key columns, from the registries that define them: methods as the
    method registry lists them, masks as the paper lists them (then ``native``), conditions
    clean first then the paper's noises. Models keep their order of appearance (the config's).
    """
    from audiointerp.experiments.grid.conditions import NOISE_NAMES
    from audiointerp.interpretation import method_names
    from audiointerp.interpretation.masks import MASK_NAMES, NATIVE_MASK

    return {
        "model": (),
        "condition": ("clean", *NOISE_NAMES),
        "method": method_names(),
        "mask": (*MASK_NAMES, NATIVE_MASK),
    }


def prepare_results(df: pd.DataFrame, *, where: str = "results") -> pd.DataFrame:
    """Check the runner's columns, normalize dtypes and order the categorical keys.

    Parameters
    ----------
    df : pd.DataFrame
        The tidy per-clip table.
    where : str
        Source name used in error messages.

    Returns
    -------
    pd.DataFrame
        A copy with ``correct`` as bool, metrics as float and ordered categorical keys.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{where}: missing column(s) {missing}; expected the runner's tidy table with "
            f"columns {list(REQUIRED)} (run `audiointerp run` first)"
        )
    if df.empty:
        raise DatasetError(f"{where}: the results table has no rows")
    out = df.copy()
    correct = out["correct"]
    if correct.dtype == object:
        correct = (
            correct.astype(str)
            .str.lower()
            .map({"true": True, "false": False, "1": True, "0": False})
        )
    out["correct"] = correct.astype(bool)
    for col in (*METRICS, *GT_METRICS, "si_sdr", "p", "p_in", "p_out"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    out["id"] = out["id"].astype(str)
    for col, canonical in canonical_orders().items():
        values = out[col].astype(str)
        out[col] = pd.Categorical(
            values, categories=_order(values.tolist(), canonical), ordered=True
        )
    return out


def load_results(path: str | Path) -> pd.DataFrame:
    """Read the runner's results: a tidy CSV file, or a results folder.

    Parameters
    ----------
    path : str or Path
        The tidy CSV (``results.csv``), or a results folder holding it, or a folder in the
        paper's layout ``<model>/<method>_<condition>/csvs/<mask>.csv`` whose per-mask files are
        concatenated (keys filled from the path when absent).

    Returns
    -------
    pd.DataFrame
        See :func:`prepare_results`.
    """
    root = Path(path)
    if root.is_file():
        return prepare_results(pd.read_csv(root), where=str(root))
    if not root.is_dir():
        raise DatasetError(
            f"results {root}: no such file or folder; pass the folder `audiointerp run` wrote"
        )
    if (root / COMBINED_TABLE).is_file():
        return prepare_results(pd.read_csv(root / COMBINED_TABLE), where=str(root / COMBINED_TABLE))
    frames = []
    for csv in sorted(root.glob("*/*_*/csvs/*.csv")):
        frame = pd.read_csv(csv)
        method, _, condition = csv.parent.parent.name.partition("_")
        for key, value in (
            ("model", csv.parents[2].name),
            ("method", method),
            ("condition", condition),
            ("mask", csv.stem),
        ):
            if key not in frame.columns:
                frame[key] = value
        frames.append(frame)
    if not frames:
        raise DatasetError(
            f"results {root}: no {COMBINED_TABLE} and no <model>/<method>_<condition>/csvs/"
            "<mask>.csv files; pass the folder `audiointerp run` wrote"
        )
    return prepare_results(pd.concat(frames, ignore_index=True), where=str(root))


def load_sanity(path: str | Path) -> pd.DataFrame | None:
    """Return the sanity-check table of a results folder (``*sanity*.csv``), or None if not run."""
    root = Path(path)
    if root.is_file():
        root = root.parent
    # Skip tables/ folders: write_tables' own "not run" sanity.csv must not be read back as results.
    found = (
        [p for p in sorted(root.rglob("*sanity*.csv")) if "tables" not in p.parent.parts]
        if root.is_dir()
        else []
    )
    if not found:
        return None
    return pd.concat([pd.read_csv(p) for p in found], ignore_index=True)
