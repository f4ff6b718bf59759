"""Reading the runner's results for the tables: the tidy table or the paper's CSV layout.

:func:`load_results` accepts what ``audiointerp run`` writes (``results.csv`` in the results
root, or ``<model>/<method>_<condition>/csvs/<mask>.csv``) and tags each row with the grid
(config fingerprint) that wrote it; :func:`prepare_results` checks every column's type, the
keys' uniqueness and that the grids are comparable (:mod:`.checks`), and orders models,
conditions, methods and masks as the registries do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from audiointerp.errors import DatasetError
from audiointerp.experiments.columns import (
    COMBINED_TABLE,
    CURVE_COLUMNS,
    KEY_COLUMNS,
    METRIC_COLUMNS,
)
from audiointerp.experiments.reporting import checks

__all__ = [
    "CURVE_METRICS",
    "GT_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "REQUIRED",
    "curve_point_columns",
    "load_cascade",
    "load_results",
    "load_sanity",
    "prepare_results",
]

#: Fidelity and simplicity metrics, in the paper's column order (the runner's schema).
METRICS: tuple[str, ...] = tuple(METRIC_COLUMNS)
#: Ground-truth metrics of the synthetic benchmark (present only where the data has stems).
GT_METRICS: tuple[str, ...] = ("loc_auc", "relevance_mass", "si_sdri")
#: Areas under the deletion / insertion curves (one value per clip and method).
CURVE_METRICS: tuple[str, ...] = tuple(CURVE_COLUMNS)
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
    "deletion_floor": False,
    "insertion_floor": True,
    "deletion_road": False,
    "insertion_road": True,
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
    from audiointerp.interpretation.mask_names import MASK_NAMES, NATIVE_MASK
    from audiointerp.interpretation.registry import method_names

    return {
        "model": (),
        "condition": ("clean", *NOISE_NAMES),
        "method": method_names(),
        "mask": (*MASK_NAMES, NATIVE_MASK),
    }


def curve_point_columns(columns: Sequence[str]) -> list[str]:
    """The curve-point columns (``deletion_floor_k000`` ...) among ``columns``."""
    prefixes = tuple(f"{c}_k" for c in CURVE_METRICS)
    return [c for c in columns if c.startswith(prefixes)]


def prepare_results(
    df: pd.DataFrame,
    *,
    where: str = "results",
    grid: str | None = None,
    configs: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """Check the runner's columns and types, normalize dtypes and order the categorical keys.

    Parameters
    ----------
    df : pd.DataFrame
        The tidy per-clip table.
    where : str
        Source name used in error messages.
    grid : str, optional
        Keep only the rows of this grid (``grid`` column: the config fingerprint).
    configs : dict, optional
        ``fingerprint -> config`` of the grids in ``df`` (their manifests): rows of several
        grids are tabulated together only when the configs differ in table dimensions alone.

    Returns
    -------
    pd.DataFrame
        A copy with ``correct`` (and ``degenerate``) as bool, metrics as float and ordered
        categorical keys.

    Raises
    ------
    DatasetError
        Missing columns, no rows, a non-boolean ``correct``, text or infinite metrics,
        duplicated keys, or grids that cannot be compared.
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
    keys = [*KEY_COLUMNS]
    if grid is not None:
        if "grid" not in out.columns or not (out["grid"].astype(str) == grid).any():
            have = sorted(out["grid"].astype(str).unique()) if "grid" in out.columns else []
            raise DatasetError(f"{where}: no rows of grid {grid!r}; grids here: {have}")
        out = out[out["grid"].astype(str) == grid]
    if "grid" in out.columns:
        _check_grids(out, where, configs)
    out["correct"] = checks.check_bool(out, "correct", where=where, keys=keys)
    if "degenerate" in out.columns:
        out["degenerate"] = checks.check_bool(out, "degenerate", where=where, keys=keys)
    numeric = [*METRICS, *GT_METRICS, *CURVE_METRICS, "si_sdr", "p", "p_in", "p_out", "mask_std"]
    numeric += curve_point_columns(out.columns)
    for col, values in checks.check_numeric(out, numeric, where=where, keys=keys).items():
        out[col] = values
    labels = checks.check_numeric(out, ["label", "prediction"], where=where, keys=keys)
    wrong = (labels["label"] == labels["prediction"]).to_numpy() != out["correct"].to_numpy()
    if wrong.any():
        example = out.loc[wrong, [*keys, "label", "prediction", "correct"]].head(3)
        raise DatasetError(
            f"{where}: {int(wrong.sum())} row(s) have `correct` disagreeing with label == "
            f"prediction, e.g.\n{example.to_string(index=False)}\nrecompute those units"
        )
    out["id"] = out["id"].astype(str)
    checks.check_unique(out, keys, where=where)
    for col, canonical in canonical_orders().items():
        values = out[col].astype(str)
        out[col] = pd.Categorical(
            values, categories=_order(values.tolist(), canonical), ordered=True
        )
    return out


def _check_grids(df: pd.DataFrame, where: str, configs: dict[str, dict] | None) -> None:
    grids = sorted(set(df["grid"].astype(str)) - {"", "nan"})
    if len(grids) < 2:
        return
    known = {g: (configs or {}).get(g) for g in grids}
    unknown = [g for g, c in known.items() if c is None]
    if unknown:
        raise DatasetError(
            f"{where}: rows of {len(grids)} grids {grids}, and no manifest says what grids "
            f"{unknown} ran, so they cannot be compared; pass --grid with one of them"
        )
    differ = checks.comparable_grids(known)
    if differ:
        what = "; ".join(f"{k}: {' vs '.join(v)}" for k, v in differ.items())
        raise DatasetError(
            f"{where}: rows of {len(grids)} grids {grids} that differ in more than models, "
            f"conditions and methods ({what}), so their rows cannot be ranked against each "
            "other; pass --grid with one of them"
        )


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str}, low_memory=False)


def load_results(path: str | Path, *, grid: str | None = None) -> pd.DataFrame:
    """Read the runner's results: a tidy CSV file, or a results folder.

    Parameters
    ----------
    path : str or Path
        The tidy CSV (``results.csv``), or a results folder holding it (each row is tagged
        with the grid that wrote its block, from ``runs/<fingerprint>/``), or a folder in the
        paper's layout ``<model>/<method>_<condition>/csvs/<mask>.csv`` whose per-mask files
        are concatenated (keys filled from the path when absent).
    grid : str, optional
        Keep only this grid's rows (see :func:`prepare_results`).

    Returns
    -------
    pd.DataFrame
        See :func:`prepare_results`.
    """
    root = Path(path)
    if root.is_file():
        return prepare_results(_read(root), where=str(root), grid=grid)
    if not root.is_dir():
        raise DatasetError(
            f"results {root}: no such file or folder; pass the folder `audiointerp run` wrote"
        )
    if (root / COMBINED_TABLE).is_file():
        df = _read(root / COMBINED_TABLE)
        configs = None
        if "grid" not in df.columns:
            blocks, configs = checks.grid_of_blocks(root)
            if blocks:
                keys = (
                    df[["model", "condition", "method"]]
                    .astype(str)
                    .itertuples(index=False, name=None)
                )
                grid_col = pd.Series([blocks.get(k, "") for k in keys], index=df.index, name="grid")
                df = pd.concat([df, grid_col], axis=1)  # one block: wide tables are fragmented
        return prepare_results(df, where=str(root / COMBINED_TABLE), grid=grid, configs=configs)
    frames = []
    for csv in sorted(root.glob("*/*_*/csvs/*.csv")):
        frame = _read(csv)
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
    return prepare_results(pd.concat(frames, ignore_index=True), where=str(root), grid=grid)


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


def load_cascade(path: str | Path) -> pd.DataFrame | None:
    """The per-layer sanity curves of a results folder (``<model>/cascade.csv``), or None."""
    root = Path(path)
    if root.is_file():
        root = root.parent
    found = sorted(root.glob("*/cascade.csv")) if root.is_dir() else []
    if not found:
        return None
    return pd.concat([pd.read_csv(p) for p in found], ignore_index=True)
