"""What the tables read is checked, not trusted: types per column, unique keys, one grid.

Every problem is an :class:`~audiointerp.errors.DatasetError` naming the source, the column,
how many rows and a few examples, and a fix: a results table is refused rather than silently
coerced (``correct = maybe`` read as True, ``inf`` or ``abc`` in a metric read as NaN) or
averaged (duplicated rows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiointerp.errors import DatasetError

__all__ = ["check_bool", "check_numeric", "check_unique", "comparable_grids", "grid_of_blocks"]

TRUE = {"true", "1", "1.0", "yes"}
FALSE = {"false", "0", "0.0", "no"}
#: Config fields that are dimensions of the tables (or do not change rows): grids that differ
#: only in these can be compared in one table (the demo runs one grid per model).
TABLE_DIMENSIONS = frozenset(
    {"name", "models", "conditions", "methods", "output", "device", "batch_size"}
    | {"sanity_clips", "sanity_methods", "save_attributions"}
)


def _examples(df: pd.DataFrame, bad: np.ndarray, col: str, keys: Sequence[str]) -> str:
    cols = [c for c in keys if c in df.columns] + [col]
    return df.loc[bad, cols].head(3).to_string(index=False)


def check_bool(df: pd.DataFrame, col: str, *, where: str, keys: Sequence[str]) -> pd.Series:
    """``df[col]`` as bool: booleans, 0/1 or true/false/yes/no (any case); else an error."""
    s = df[col]
    if s.dtype == bool:
        return s
    text = s.astype(str).str.strip().str.lower()
    bad = ~text.isin(TRUE | FALSE).to_numpy()
    if bad.any():
        raise DatasetError(
            f"{where}: column {col!r} must be true/false, but {int(bad.sum())} row(s) hold "
            f"something else, e.g.\n{_examples(df, bad, col, keys)}\n"
            "fix or remove those rows (or rerun the units that wrote them)"
        )
    return text.isin(TRUE)


def check_numeric(
    df: pd.DataFrame, cols: Sequence[str], *, where: str, keys: Sequence[str]
) -> pd.DataFrame:
    """``cols`` as float; an empty cell is NaN (undefined), text or +-Inf is an error."""
    out = {}
    for col in cols:
        if col not in df.columns:
            continue
        raw = df[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            values = raw.astype(float)
        else:
            values = pd.to_numeric(raw, errors="coerce").astype(float)
            blank = raw.isna().to_numpy() | raw.astype(str).str.strip().isin(["", "nan", "NaN"])
            text = values.isna().to_numpy() & ~blank
            if text.any():
                raise DatasetError(
                    f"{where}: column {col!r} must be numeric, but {int(text.sum())} row(s) hold "
                    f"text, e.g.\n{_examples(df, text, col, keys)}\n"
                    "fix or remove those rows (or rerun the units that wrote them)"
                )
        inf = np.isinf(values.to_numpy())
        if inf.any():
            raise DatasetError(
                f"{where}: column {col!r} has {int(inf.sum())} infinite value(s), which no "
                f"mean or interval can hold, e.g.\n{_examples(df, inf, col, keys)}\n"
                "recompute those units (a metric should never be infinite) or drop the rows"
            )
        out[col] = values
    return pd.DataFrame(out, index=df.index)


def check_unique(df: pd.DataFrame, keys: Sequence[str], *, where: str) -> None:
    """Refuse duplicated keys: the tables compare one value per clip, they never average."""
    dup = df.duplicated(list(keys), keep=False).to_numpy()
    if not dup.any():
        return
    example = df.loc[dup, list(keys)].head(4).to_string(index=False)
    hint = "keep one copy of each row (e.g. rebuild results.csv with `audiointerp run`)"
    if "grid" in df.columns and df.loc[dup, "grid"].nunique() > 1:
        grids = sorted(df.loc[dup, "grid"].astype(str).unique())
        hint = f"rows of grids {grids} overlap: pass --grid with one of them"
    raise DatasetError(
        f"{where}: {int(dup.sum())} rows share their key {list(keys)} (a clip must appear "
        f"once per model, condition, method and mask), e.g.\n{example}\n{hint}"
    )


def grid_of_blocks(root: Path) -> tuple[dict[tuple[str, str, str], str], dict[str, Any]]:
    """Which grid (fingerprint) wrote each (model, condition, method) block of a results root.

    The newest finished grid per block wins, as ``store.merge_runs`` builds ``results.csv``.

    Returns
    -------
    blocks : dict
        ``(model, condition, method) -> fingerprint``.
    configs : dict
        ``fingerprint -> config`` from each grid's manifest (absent manifests are left out).
    """
    blocks: dict[tuple[str, str, str], str] = {}
    configs: dict[str, Any] = {}
    tables = sorted(
        (p for p in root.glob("runs/*/results.csv") if (p.parent / "units").is_dir()),
        key=lambda p: p.stat().st_mtime_ns,
    )
    for path in tables:
        fp = path.parent.name
        keys = pd.read_csv(path, usecols=["model", "condition", "method"], dtype=str)
        for block in keys.drop_duplicates().itertuples(index=False, name=None):
            blocks[tuple(block)] = fp
        manifest = path.parent / "manifest.json"
        if manifest.is_file():
            try:
                configs[fp] = json.loads(manifest.read_text()).get("config", {})
            except (OSError, ValueError):
                pass
    return blocks, configs


def comparable_grids(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Config fields in which grids differ beyond the table dimensions (empty: comparable).

    Returns
    -------
    dict
        ``field -> sorted distinct values (as JSON)`` for every differing field.
    """
    fields = set().union(*(c.keys() for c in configs.values())) if configs else set()
    out = {}
    for key in sorted(fields - TABLE_DIMENSIONS):
        values = {json.dumps(c.get(key), sort_keys=True, default=str) for c in configs.values()}
        if len(values) > 1:
            out[key] = sorted(values)
    return out
