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

# Every name is imported on first use: the tables step reads results without the grid's data
# packages (scipy.signal, torch), the views pull in matplotlib/ipywidgets, the launcher submitit.
_LAZY = {
    "ExperimentConfig": "audiointerp.experiments.grid.config",
    "load_experiment": "audiointerp.experiments.grid.config",
    "notebook_config": "audiointerp.experiments.grid.config",
    "RunResult": "audiointerp.experiments.grid.runner",
    "run_experiment": "audiointerp.experiments.grid.runner",
    "select_clips": "audiointerp.experiments.grid.runner",
    "ExperimentSession": "audiointerp.experiments.grid.session",
    "ResultStore": "audiointerp.experiments.grid.store",
    "GridPlan": "audiointerp.experiments.grid.units",
    "ShardSpec": "audiointerp.experiments.grid.units",
    "Unit": "audiointerp.experiments.grid.units",
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
