"""Atomic, resumable result store in the paper's layout.

A run is split into *units* ``(model, condition, method, batch)``. Each unit's rows are written
to their own CSV file with write-to-temporary + ``os.replace``, so after a crash (even
``kill -9``) a unit file is either complete or absent; a restarted run skips the units it finds
and the final tables are rebuilt from the units alone. Layout under the results root::

    <root>/<model>/<method>_<condition>/csvs/<mask>.csv     a row per clip (paper layout)
    <root>/<model>/<method>_<condition>/attributions/batch_00000.npz   raw maps (git-ignored)
    <root>/results.csv              tidy table: newest grid per (model, condition, method)
    <root>/manifest.json            manifest of the latest grid (config, versions, timings)
    <root>/runs/<fingerprint>/results.csv       tidy table of one grid
    <root>/runs/<fingerprint>/manifest.json     its manifest
    <root>/runs/<fingerprint>/units/<model>/<condition>/<method>/batch_00000.csv  (one unit)
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.core.scoring import CLIP_COLUMNS, GT_COLUMNS, METRIC_COLUMNS
from audiointerp.files import atomic_write_bytes

# Identifying columns of the tidy table, then the per-clip values (core.scoring); ground-truth
# metrics are present only when the data has stems. Readers (tables, figures) rely on these.
KEY_COLUMNS = ("model", "condition", "method", "mask", "id")
# Columns of the per-mask CSVs of the paper layout (the key columns are implied by the path).
MASK_CSV_COLUMNS = ("id", *CLIP_COLUMNS, *METRIC_COLUMNS)
COMBINED_TABLE = "results.csv"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class UnitKey:
    """One resumable piece of the grid: a batch of clips for one model, condition and method."""

    model: str
    condition: str
    method: str
    batch: int

    @property
    def stem(self) -> str:
        return f"batch_{self.batch:05d}"


def atomic_write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as CSV atomically (floats round-trip exactly)."""
    atomic_write_bytes(path, df.to_csv(index=False).encode())


def atomic_write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV written by this module (exact float round trip, ids kept as strings)."""
    return pd.read_csv(
        path,
        float_precision="round_trip",
        dtype={"id": str},
        keep_default_na=False,
        na_values=[""],
    )


class ResultStore:
    """Unit files of one grid (by config fingerprint) and the tables built from them.

    Parameters
    ----------
    root : str or Path
        Results root.
    fingerprint : str
        ``ExperimentConfig.fingerprint()``: units of a different grid live elsewhere.
    """

    def __init__(self, root: str | Path, fingerprint: str) -> None:
        self.root = Path(root)
        self.fingerprint = fingerprint
        self.units_dir = self.root / "runs" / fingerprint / "units"

    # --- units -----------------------------------------------------------------------------
    def unit_path(self, key: UnitKey) -> Path:
        return self.units_dir / key.model / key.condition / key.method / f"{key.stem}.csv"

    def has_unit(self, key: UnitKey) -> bool:
        return self.unit_path(key).is_file()

    def write_unit(self, key: UnitKey, rows: pd.DataFrame) -> None:
        """Commit a unit's rows (atomic: the file appears complete or not at all)."""
        atomic_write_csv(rows, self.unit_path(key))

    def read_unit(self, key: UnitKey) -> pd.DataFrame:
        return read_csv(self.unit_path(key))

    def clean_temporaries(self) -> int:
        """Remove temporary files left by a killed run; returns how many."""
        n = 0
        if self.root.is_dir():
            for tmp in self.root.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                n += 1
        return n

    def attribution_path(self, key: UnitKey) -> Path:
        return (
            self.root
            / key.model
            / f"{key.method}_{key.condition}"
            / "attributions"
            / (f"{key.stem}.npz")
        )

    def write_attributions(self, key: UnitKey, ids: list[str], attributions: np.ndarray) -> None:
        """Save a batch's raw attributions ``(B, 1, F, T)`` as float16 with their clip ids."""
        buf = io.BytesIO()
        np.savez(buf, ids=np.asarray(ids), attributions=attributions.astype(np.float16))
        atomic_write_bytes(self.attribution_path(key), buf.getvalue())

    # --- tables ----------------------------------------------------------------------------
    def combine(self, keys: Iterable[UnitKey]) -> pd.DataFrame:
        """Concatenate the units ``keys`` in the given (grid) order.

        Raises
        ------
        AudioInterpError
            If a unit is missing (the grid is not finished) or rows are duplicated.
        """
        keys = list(keys)
        missing = [k for k in keys if not self.has_unit(k)]
        if missing:
            raise AudioInterpError(
                f"{len(missing)} result unit(s) missing under {self.units_dir}, e.g. {missing[0]}; "
                "run the same command again to finish the grid"
            )
        frames = [self.read_unit(k) for k in keys]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if len(df) and df.duplicated(list(KEY_COLUMNS)).any():
            dup = df[df.duplicated(list(KEY_COLUMNS), keep=False)].head(3)
            raise AudioInterpError(f"duplicated result rows in {self.units_dir}:\n{dup}")
        return df

    @property
    def run_table(self) -> Path:
        return self.units_dir.parent / COMBINED_TABLE

    def write_tables(self, df: pd.DataFrame) -> list[Path]:
        """Write this grid's tidy table, the paper layout's per-mask CSVs and the root table.

        Several grids may share a results root (notebooks 03/04 run one model and condition
        each): the root ``results.csv`` holds, for every (model, condition, method), the rows
        of the most recently finished grid that covered it, like the per-mask CSVs do.
        """
        atomic_write_csv(df, self.run_table)
        written = [self.run_table, self.root / COMBINED_TABLE]
        atomic_write_csv(merge_runs(self.root), written[1])
        if not len(df):
            return written
        extra = [c for c in GT_COLUMNS if c in df.columns]
        cols = [c for c in (*MASK_CSV_COLUMNS, *extra) if c in df.columns]
        for (model, method, condition), part in df.groupby(
            ["model", "method", "condition"], sort=False
        ):
            folder = self.root / str(model) / f"{method}_{condition}" / "csvs"
            for mask, rows in part.groupby("mask", sort=False):
                path = folder / f"{mask}.csv"
                atomic_write_csv(rows[cols].reset_index(drop=True), path)
                written.append(path)
        return written


def merge_runs(root: str | Path) -> pd.DataFrame:
    """Tidy rows of every finished grid under ``root``; the newest grid wins per block.

    A block is a (model, condition, method) triple; grids are ordered by when their table
    was written.
    """
    tables = sorted(
        (p for p in Path(root).glob(f"runs/*/{COMBINED_TABLE}") if (p.parent / "units").is_dir()),
        key=lambda p: p.stat().st_mtime_ns,
    )
    frames: dict[tuple, pd.DataFrame] = {}
    for path in tables:
        df = read_csv(path)
        if not len(df):
            continue
        for block, part in df.groupby(["model", "condition", "method"], sort=False):
            frames.pop(block, None)  # re-insert so that the newest block goes last
            frames[block] = part
    if not frames:
        return pd.DataFrame(columns=[*KEY_COLUMNS, *CLIP_COLUMNS, *METRIC_COLUMNS])
    return pd.concat(frames.values(), ignore_index=True)
