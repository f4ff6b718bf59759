"""Experiments: one explain-and-score core and the rooms built on it.

Subpackages
-----------
core
    The explain-and-score core: prepared batches, method building with training context,
    the one scoring rule, :func:`~audiointerp.experiments.core.explain_batch`.
grid
    The experiment grid: config, conditions, session, canonical units and shards, resumable
    runner, verifiable store, merge, launcher, manifest.
reporting
    Results I/O, statistics, the paper's tables.
interactive
    Per-clip views: the illustration, the listening page, the explorer.

The grid, ``audiointerp interpret``, the illustration, the listening page and the explorer all
explain clips through the core, so one clip with the same options gives the same numbers in
each of them.
"""

from __future__ import annotations

from audiointerp.experiments.grid.config import (
    ExperimentConfig,
    load_experiment,
    notebook_config,
)
from audiointerp.experiments.grid.runner import RunResult, run_experiment, select_clips
from audiointerp.experiments.grid.session import ExperimentSession
from audiointerp.experiments.grid.store import ResultStore
from audiointerp.experiments.grid.units import GridPlan, ShardSpec, Unit

# Reporting and the views pull in matplotlib/scipy/ipywidgets, the launcher submitit; they are
# imported on first use.
_LAZY = {
    "run_grid": "audiointerp.experiments.grid.launch",
    "launch_grid": "audiointerp.experiments.grid.launch",
    "write_tables": "audiointerp.experiments.reporting.tables",
    "load_results": "audiointerp.experiments.reporting.tables",
    "illustrate_clip": "audiointerp.experiments.interactive.illustrate",
    "ClipExplainer": "audiointerp.experiments.interactive.clip",
    "Explorer": "audiointerp.experiments.interactive.explorer",
    "ExplorerSession": "audiointerp.experiments.interactive.explorer",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ClipExplainer",
    "ExperimentConfig",
    "ExperimentSession",
    "Explorer",
    "ExplorerSession",
    "GridPlan",
    "ResultStore",
    "RunResult",
    "ShardSpec",
    "Unit",
    "illustrate_clip",
    "load_experiment",
    "notebook_config",
    "run_experiment",
    "run_grid",
    "launch_grid",
    "select_clips",
    "write_tables",
    "load_results",
]
