"""Experiments: the grid runner, its result store, tables, figures and the explorer.

Modules
-------
config
    :class:`ExperimentConfig` (models x conditions x methods x masks over test clips), YAML
    loading with dotted overrides, :func:`notebook_config` for notebooks 03/04.
conditions
    Clean, the paper's noise mixing, SNR mixing and a rival event, with stems kept consistent.
evaluation, batch
    Batched, de-duplicated masked-in/masked-out evaluation and the metrics of one batch.
methods
    The grid's attribution methods with their training-data inputs (SHAP background, fill).
runner
    :func:`run_experiment`: resumable, atomic, with a progress bar and a manifest.
store, manifest
    Unit files, the tidy table, the paper layout's CSVs; config, versions, timings, memory.
sanity
    The model-randomization check per method, as part of a run.
demo, reproduce
    ``audiointerp demo`` and ``python -m audiointerp.experiments.reproduce`` (``make reproduce``).
tables, stats, tablefmt, illustrate, explorer
    The paper's tables, the illustration and listening page, the widget explorer.
"""

from __future__ import annotations

from audiointerp.experiments.config import (
    DataConfig,
    ExperimentConfig,
    load_experiment,
    notebook_config,
)
from audiointerp.experiments.runner import RunResult, run_experiment, select_clips
from audiointerp.experiments.store import ResultStore, UnitKey

# Reporting helpers pull in matplotlib/scipy; they are imported on first use.
_LAZY = {
    "write_tables": "audiointerp.experiments.tables",
    "load_results": "audiointerp.experiments.tables",
    "illustrate_clip": "audiointerp.experiments.illustrate",
    "Explorer": "audiointerp.experiments.explorer",
    "ExplorerSession": "audiointerp.experiments.explorer",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DataConfig",
    "Explorer",
    "ExplorerSession",
    "illustrate_clip",
    "load_results",
    "write_tables",
    "ExperimentConfig",
    "ResultStore",
    "RunResult",
    "UnitKey",
    "load_experiment",
    "notebook_config",
    "run_experiment",
    "select_clips",
]
