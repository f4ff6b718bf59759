"""Merge a grid's units into its tables, refusing anything that cannot be verified.

``audiointerp merge RUN_DIR`` (:func:`merge_run`) reads the run folder's plan, checks that every
planned unit is present exactly once and matches its completion record, and only then writes
the tidy table (units concatenated in canonical order, so the table depends neither on how
many shards computed it nor on the order files were written), the paper layout's per-mask
CSVs and the manifest. Missing, partial, damaged, duplicated and foreign unit files are named
in the error, with the command that finishes the run.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.core.scoring import CLIP_COLUMNS, GT_COLUMNS, METRIC_COLUMNS
from audiointerp.experiments.grid import manifest as manifest_mod
from audiointerp.experiments.grid.store import (
    COMBINED_TABLE,
    KEY_COLUMNS,
    MASK_CSV_COLUMNS,
    PLAN,
    RECORD_SUFFIX,
    RUN_CONFIG,
    ResultStore,
    UnitState,
    atomic_write_csv,
    read_csv,
)
from audiointerp.experiments.grid.units import GridPlan
from audiointerp.files import check_path_name, remove_stale_temporaries

log = logging.getLogger(__name__)

# How many unit names an error lists per kind of problem (the count is always given).
_SHOWN = 12


class IncompleteRunError(AudioInterpError):
    """A run folder whose units are not all present, complete and verified."""


@dataclass
class Verification:
    """The state of every planned unit of a run, and unit files the plan does not name."""

    store: ResultStore
    plan: GridPlan
    states: list[UnitState]
    strays: list[Path]

    def by_status(self, status: str) -> list[UnitState]:
        return [s for s in self.states if s.status == status]

    @property
    def ok(self) -> bool:
        return not self.strays and all(s.complete for s in self.states)

    def _stray_text(self) -> list[str]:
        out = []
        for path in self.strays:
            rel = path.relative_to(self.store.units_dir)
            twin = None
            if path.name.endswith(RECORD_SUFFIX):
                try:
                    twin = self.plan.by_key.get(json.loads(path.read_text()).get("unit"))
                except (OSError, ValueError, AttributeError):
                    twin = None
            out.append(f"{rel} (a copy of unit {twin.name})" if twin else str(rel))
        return out

    def message(self) -> str:
        """What is wrong and how to finish the run."""
        n = len(self.states)
        parts = []
        for status, what in (
            ("missing", "missing"),
            ("partial", "partial (rows without a completion record)"),
            ("damaged", "damaged"),
        ):
            found = self.by_status(status)
            if found:
                names = ", ".join(s.describe() for s in found[:_SHOWN])
                more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
                parts.append(f"{len(found)} of {n} units {what}: {names}{more}")
        if self.strays:
            names = ", ".join(self._stray_text()[:_SHOWN])
            parts.append(
                f"{len(self.strays)} unit file(s) the plan does not name (duplicates or foreign "
                f"units; move them out of {self.store.units_dir}): {names}"
            )
        config = self.store.run_dir / RUN_CONFIG
        fix = (
            f"finish the run with `audiointerp run --config {config} --out {self.store.root}` "
            "(it computes only what is missing or damaged), or rerun the same `audiointerp "
            "launch` command (it resubmits only the shards that own such units)"
        )
        return f"{self.store.run_dir}: cannot merge: " + "; ".join(parts) + f". To {fix}"


def verify(store: ResultStore, plan: GridPlan) -> Verification:
    """Check every planned unit against its completion record and look for stray unit files."""
    return Verification(store, plan, store.check_units(plan.units), store.stray_files(plan))


@dataclass
class MergeResult:
    """The merged table, the manifest and the files written."""

    table: pd.DataFrame
    manifest: dict[str, Any]
    paths: list[Path]
    run_dir: Path


def _method_descriptions(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model, the built methods recorded by the latest session that built them."""
    out: dict[str, Any] = {}
    for s in sessions:
        out.update(s.get("methods") or {})
    return out


def merge_store(
    store: ResultStore,
    cfg: Any,
    plan: GridPlan,
    *,
    contents: dict[str, Any] | None = None,
) -> MergeResult:
    """Verify ``plan``'s units in ``store`` and write the tables and the manifest.

    Raises
    ------
    IncompleteRunError
        Naming every unit that is missing, partial, damaged or duplicated.
    """
    with store.tables_lock():
        check = verify(store, plan)
        if not check.ok:
            raise IncompleteRunError(check.message())
        table = store.combine(plan.units)
        paths = write_grid_tables(store, table)
        shards = Counter((store.read_record(u) or {}).get("shard", "?") for u in plan.units)
        sessions = manifest_mod.read_sessions(store)
        summary: dict[str, Any] = {
            "contents": contents if contents is not None else _latest(sessions, "contents"),
            "plan": {"digest": plan.digest, "n_units": len(plan.units)},
            "units_by_shard": dict(sorted(shards.items())),
            "skipped": list(plan.skipped),
            "n_rows": len(table),
            "n_clips": int(table["id"].nunique()) if len(table) else 0,
        }
        if methods := _method_descriptions(sessions):
            summary["methods"] = methods
        from audiointerp.experiments.grid.runner import reference_methods

        summary["resolution"] = _latest(sessions, "resolution")
        summary["references"] = reference_methods(cfg)
        manifest = manifest_mod.write_manifest(cfg, store, **summary)
        paths.append(manifest_mod.manifest_path(store))
    return MergeResult(table, manifest, paths, store.run_dir)


def _latest(sessions: list[dict[str, Any]], key: str) -> Any:
    """``key`` of the latest session that recorded it (the shards' content digests)."""
    for s in reversed(sessions):
        if key in s:
            return s[key]
    return None


def find_run_dir(path: str | Path) -> Path:
    """The run folder ``path`` names: a run folder itself, or a results root holding one.

    Raises
    ------
    AudioInterpError
        If ``path`` holds no run, or several (they are listed).
    """
    path = Path(path)
    if (path / PLAN).is_file():
        return path
    runs = sorted(p.parent for p in path.glob(f"runs/*/{PLAN}"))
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise AudioInterpError(
            f"{path}: no run folder here (a run folder holds {PLAN}; `audiointerp run` or "
            "`audiointerp launch` creates <output>/runs/<fingerprint>/); pass one"
        )
    listed = ", ".join(str(r) for r in runs[:10])
    raise AudioInterpError(f"{path} holds {len(runs)} runs; name one of them: {listed}")


def merge_run(path: str | Path) -> MergeResult:
    """``audiointerp merge``: verify the run at ``path`` and write its tables and manifest."""
    from audiointerp.experiments.grid.config import load_experiment

    run_dir = find_run_dir(path)
    store = ResultStore.open(run_dir)
    plan = store.load_plan()
    if plan is None:
        raise AudioInterpError(f"{run_dir}: no {PLAN}; run the grid first")
    config = run_dir / RUN_CONFIG
    cfg = load_experiment(config, {"output": str(store.root)})
    return merge_store(store, cfg, plan)


def write_grid_tables(store: ResultStore, df: pd.DataFrame) -> list[Path]:
    """Write this grid's tidy table, the paper layout's per-mask CSVs and the root table
    (the caller holds ``store.tables_lock()``).

    Several grids may share a results root (notebooks 03/04 run one model and condition
    each): the root ``results.csv`` holds, for every (model, condition, method), the rows
    of the most recently finished grid that covered it, like the per-mask CSVs do.
    """
    atomic_write_csv(df, store.run_table)
    remove_stale_temporaries(store.root)
    written = [store.run_table, store.root / COMBINED_TABLE]
    atomic_write_csv(merge_runs(store.root), written[1])
    if not len(df):
        return written
    extra = [c for c in GT_COLUMNS if c in df.columns]
    cols = [c for c in (*MASK_CSV_COLUMNS, *extra) if c in df.columns]
    for (model, method, condition), part in df.groupby(
        ["model", "method", "condition"], sort=False
    ):
        folder = (
            store.root
            / check_path_name("model", model)
            / check_path_name("folder", f"{method}_{condition}")
            / "csvs"
        )
        remove_stale_temporaries(folder)
        for mask, rows in part.groupby("mask", sort=False):
            path = folder / f"{check_path_name('mask', mask)}.csv"
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
