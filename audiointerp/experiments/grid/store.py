"""Atomic, verifiable result store in the paper's layout.

A grid is cut into units (:mod:`.units`). Each unit's rows are written to their own CSV file
(write-to-temporary + ``os.replace``), and *after* them a completion record with the unit's key,
its row count and the SHA-256 of the file's bytes. A unit counts as done only when its record
matches its data: a file cut in half, emptied, left with its header only, or rows left without
a record by a killed writer are found, named and recomputed, never merged. Layout under the
results root (the output folder is the user's: a run writes only these names)::

    <root>/runs/<fingerprint>/            the run folder of one grid
        config.yaml, plan.json            the grid as run; every unit in canonical order
        units/<model>/<condition>/<method>/batch_00000.csv         a unit's rows
        units/<model>/<condition>/<method>/batch_00000.done.json   its completion record
        sessions/*.json                   one record per session (shard) that ran
        shard-<i>-of-<n>.lock             held while shard i of n runs (pid, host)
        logs/                             per-shard logs of ``audiointerp launch``
        results.csv, manifest.json        tidy table and manifest of this grid (merge)
    <root>/runs/tables.lock               held while the root's tables are written
    <root>/results.csv                    tidy table: newest grid per (model, condition, method)
    <root>/manifest.json                  manifest of the latest merged grid
    <root>/<model>/<method>_<condition>/csvs/<mask>.csv           paper layout, a row per clip
    <root>/<model>/<method>_<condition>/attributions/batch_00000.npz   raw maps (git-ignored)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.columns import (  # noqa: F401  (re-exported for readers)
    CLIP_COLUMNS,
    COMBINED_TABLE,
    KEY_COLUMNS,
    METRIC_COLUMNS,
)
from audiointerp.experiments.grid.lock import RunLock
from audiointerp.experiments.grid.units import UNIT_FORMAT, GridPlan, ShardSpec, Unit
from audiointerp.files import (
    atomic_write_bytes,
    check_path_name,
    host_name,
    remove_stale_temporaries,
)

# Columns of the per-mask CSVs of the paper layout (the key columns are implied by the path).
MASK_CSV_COLUMNS = ("id", *CLIP_COLUMNS, *METRIC_COLUMNS)
MANIFEST = "manifest.json"
PLAN = "plan.json"
RUN_CONFIG = "config.yaml"
RECORD_SUFFIX = ".done.json"
TABLES_LOCK = "tables.lock"

# Statuses of a unit on disk (UnitState.status).
COMPLETE, MISSING, PARTIAL, DAMAGED = "complete", "missing", "partial", "damaged"


class DamagedUnitError(AudioInterpError):
    """A unit's data does not match its completion record (or has none)."""


def atomic_write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as CSV atomically (floats round-trip exactly)."""
    atomic_write_bytes(path, df.to_csv(index=False).encode())


def atomic_write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def read_csv(path: str | Path | io.BytesIO) -> pd.DataFrame:
    """Read a CSV written by this module (exact float round trip, ids kept as strings)."""
    return pd.read_csv(
        path,
        float_precision="round_trip",
        dtype={"id": str},
        keep_default_na=False,
        na_values=[""],
    )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class UnitState:
    """What the store found for a unit: ``complete``, ``missing``, ``partial`` (rows without
    a completion record: the writer stopped) or ``damaged`` (data and record disagree)."""

    unit: Unit
    status: str
    reason: str = ""

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    def describe(self) -> str:
        return f"{self.unit.name} ({self.reason})" if self.reason else self.unit.name


class ResultStore:
    """The run folder of one grid (by config fingerprint): its plan, units, records and locks.

    Parameters
    ----------
    root : str or Path
        Results root (the config's ``output``).
    fingerprint : str
        ``ExperimentConfig.fingerprint()``: units of a different grid live elsewhere.
    """

    def __init__(self, root: str | Path, fingerprint: str) -> None:
        self.root = Path(root)
        self.fingerprint = check_path_name("grid fingerprint", fingerprint)
        self.run_dir = self.root / "runs" / fingerprint
        self.units_dir = self.run_dir / "units"

    @classmethod
    def open(cls, run_dir: str | Path) -> ResultStore:
        """The store of an existing run folder ``<root>/runs/<fingerprint>``."""
        run_dir = Path(run_dir)
        return cls(run_dir.parent.parent, run_dir.name)

    # --- units -----------------------------------------------------------------------------
    def unit_path(self, unit: Unit) -> Path:
        parts = [
            check_path_name(what, name)
            for what, name in zip(("model", "condition", "method"), unit.block, strict=True)
        ]
        return self.units_dir.joinpath(*parts, f"{unit.stem}.csv")

    def record_path(self, unit: Unit) -> Path:
        return self.unit_path(unit).with_name(unit.stem + RECORD_SUFFIX)

    def write_unit(self, unit: Unit, rows: pd.DataFrame, **info: Any) -> dict[str, Any]:
        """Commit a unit: its rows, then its completion record (each atomic).

        ``info`` (shard, device, seconds ...) goes into the record; returns the record.
        """
        data = rows.to_csv(index=False).encode()
        path = self.unit_path(unit)
        atomic_write_bytes(path, data)
        record = {
            "format": UNIT_FORMAT,
            "unit": unit.key,
            "name": unit.name,
            "rows": len(rows),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "finished": _now(),
            "host": host_name(),
            "pid": os.getpid(),
            **info,
        }
        atomic_write_json(record, self.record_path(unit))
        return record

    def read_record(self, unit: Unit) -> dict[str, Any] | None:
        """The unit's completion record, ``None`` if absent; raises if unreadable."""
        path = self.record_path(unit)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DamagedUnitError(f"{path}: cannot read the completion record ({exc})") from exc
        try:
            record = json.loads(text)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise DamagedUnitError(f"{path}: completion record is not valid JSON ({exc})") from None
        return record

    def check_unit(self, unit: Unit) -> UnitState:
        """Verify a unit against its completion record (size and SHA-256 of its bytes)."""
        try:
            state, _ = self._verified_bytes(unit)
        except DamagedUnitError as exc:
            return UnitState(unit, DAMAGED, str(exc))
        return state

    def _verified_bytes(self, unit: Unit) -> tuple[UnitState, bytes | None]:
        path = self.unit_path(unit)
        record = self.read_record(unit)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        if record is None:
            if data is None:
                return UnitState(unit, MISSING), None
            return UnitState(unit, PARTIAL, "rows without a completion record"), None
        if record.get("unit") != unit.key:
            return UnitState(
                unit, DAMAGED, "its record belongs to another unit description (other clips?)"
            ), None
        if data is None:
            return UnitState(unit, DAMAGED, "completion record without rows"), None
        if len(data) != record.get("bytes"):
            return UnitState(
                unit, DAMAGED, f"{len(data)} bytes, its record says {record.get('bytes')}"
            ), None
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            return UnitState(unit, DAMAGED, "content differs from its record (SHA-256)"), None
        return UnitState(unit, COMPLETE), data

    def read_unit(self, unit: Unit) -> pd.DataFrame:
        """The verified rows of a unit.

        Raises
        ------
        DamagedUnitError
            If the unit is not complete, or its rows are not the unit's (row count, clip ids,
            names).
        """
        state, data = self._verified_bytes(unit)
        if not state.complete or data is None:
            raise DamagedUnitError(f"unit {state.describe()} is {state.status}")
        record = self.read_record(unit) or {}
        try:
            rows = read_csv(io.BytesIO(data))
        except (ValueError, pd.errors.ParserError) as exc:
            raise DamagedUnitError(f"unit {unit.name}: unreadable rows ({exc})") from None
        problem = None
        if len(rows) != record.get("rows"):
            problem = f"{len(rows)} rows, its record says {record.get('rows')}"
        elif missing := [c for c in KEY_COLUMNS if c not in rows.columns]:
            problem = f"columns {missing} missing"
        elif set(rows["id"]) != set(unit.clips):
            problem = f"clips {sorted(set(rows['id']) ^ set(unit.clips))[:3]} do not match"
        elif any(
            set(rows[col].astype(str)) != {val}
            for col, val in zip(("model", "condition", "method"), unit.block, strict=True)
        ):
            problem = "rows of another model, condition or method"
        if problem:
            raise DamagedUnitError(f"unit {unit.name}: {problem}")
        return rows

    def check_units(self, units: Iterable[Unit]) -> list[UnitState]:
        return [self.check_unit(u) for u in units]

    def stray_files(self, plan: GridPlan) -> list[Path]:
        """Unit-like files (``*.csv``, ``*.done.json``) under ``units/`` that the plan does
        not name: copies, renamed or foreign units a merge must not count."""
        if not self.units_dir.is_dir():
            return []
        known = {self.unit_path(u) for u in plan.units} | {self.record_path(u) for u in plan.units}
        found = [*self.units_dir.rglob("*.csv"), *self.units_dir.rglob(f"*{RECORD_SUFFIX}")]
        return sorted(p for p in found if p not in known)

    def write_attributions(self, unit: Unit, ids: list[str], attributions: np.ndarray) -> None:
        """Save a batch's raw attributions ``(B, 1, F, T)`` as float16 with their clip ids."""
        buf = io.BytesIO()
        np.savez(buf, ids=np.asarray(ids), attributions=attributions.astype(np.float16))
        atomic_write_bytes(self.attribution_path(unit), buf.getvalue())

    def attribution_path(self, unit: Unit) -> Path:
        model = check_path_name("model", unit.model)
        folder = check_path_name("folder", f"{unit.method}_{unit.condition}")
        return self.root / model / folder / "attributions" / f"{unit.stem}.npz"

    def clean_temporaries(self, units: Iterable[Unit] = ()) -> int:
        """Remove the stale temporaries of killed writes in this run folder and in the
        attribution folders of ``units``; returns how many.

        Only files named by :func:`audiointerp.files.atomic_write_bytes` whose writer is gone
        are removed: a user's files and the live writes of a concurrent shard are kept.
        """
        removed = remove_stale_temporaries(self.run_dir, recursive=True)
        for folder in {self.attribution_path(u).parent for u in units}:
            removed += remove_stale_temporaries(folder)
        return len(removed)

    # --- plan and config -------------------------------------------------------------------
    @property
    def plan_path(self) -> Path:
        return self.run_dir / PLAN

    def load_plan(self) -> GridPlan | None:
        """The saved plan of this run, or ``None``."""
        try:
            text = self.plan_path.read_text()
        except FileNotFoundError:
            return None
        try:
            return GridPlan.from_dict(json.loads(text), where=str(self.plan_path))
        except ValueError as exc:
            raise AudioInterpError(
                f"{self.plan_path}: not a readable plan ({exc}); delete it and run again"
            ) from None

    def save_plan(self, plan: GridPlan, config_yaml: str) -> GridPlan:
        """Save ``plan`` and the config beside it, or check that they match the saved plan.

        Every shard computes the plan from its own view of the data; a shard that sees other
        clips (another copy of the data set) must not add its units to this run.
        """
        with self.tables_lock():
            saved = self.load_plan()
            if saved is None:
                atomic_write_bytes(self.run_dir / RUN_CONFIG, config_yaml.encode())
                atomic_write_json(plan.to_dict(), self.plan_path)
                return plan
        diff = plan.difference(saved)
        if diff is not None:
            raise AudioInterpError(
                f"{self.plan_path}: this process plans other units than the run it joins "
                f"({diff}). The fingerprint covers the config and the checkpoints, not the audio: "
                "give every shard the same data folder, or write to another output folder"
            )
        return saved

    # --- locks -----------------------------------------------------------------------------
    def shard_lock(self, shard: ShardSpec, *, name: str = "") -> RunLock:
        """The lock a process holds while it runs ``shard`` of this grid."""
        what = f"grid {name!r} " if name else "the grid "
        if not shard.whole:
            what = f"shard {shard} of {what}"
        return RunLock(
            self.run_dir / shard.lock_name,
            what=f"{what}in {self.root}",
            info={"shard": str(shard), "grid": self.fingerprint},
        )

    def tables_lock(self) -> RunLock:
        """The lock held while the root's shared files are written (plan, tables, manifest):
        short, so it is waited for."""
        return _WaitingLock(self.root / "runs" / TABLES_LOCK, what=f"writing tables in {self.root}")

    # --- tables ----------------------------------------------------------------------------
    def combine(self, units: Iterable[Unit]) -> pd.DataFrame:
        """Concatenate the verified rows of ``units`` in the given (canonical) order.

        Raises
        ------
        DamagedUnitError
            If a unit is missing, partial or damaged, or rows are duplicated.
        """
        frames = [self.read_unit(u) for u in units]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if len(df) and df.duplicated(list(KEY_COLUMNS)).any():
            dup = df[df.duplicated(list(KEY_COLUMNS), keep=False)].head(3)
            raise DamagedUnitError(
                f"duplicated result rows in {self.units_dir}:\n{dup[list(KEY_COLUMNS)]}"
            )
        return df

    @property
    def run_table(self) -> Path:
        return self.run_dir / COMBINED_TABLE


class _WaitingLock(RunLock):
    """A :class:`RunLock` that waits (up to 30 minutes) when used as a context manager."""

    WAIT_S = 1800.0

    def __enter__(self) -> RunLock:
        return self.acquire(wait_s=self.WAIT_S)
