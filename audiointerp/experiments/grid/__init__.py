"""The experiment grid: config, conditions, the session that opens its inputs, canonical units
and shards, the runner, the result store, the merge, the launcher and the manifest.

Modules
-------
config
    :class:`ExperimentConfig` (models x conditions x methods x masks over test clips), YAML
    loading with dotted overrides, content fingerprints, :func:`notebook_config`.
conditions
    Clean, the paper's noise mixing, SNR mixing and a rival event, with stems kept consistent.
session
    :class:`ExperimentSession`: models, explained clips, noises and methods, opened once; the
    grid, ``interpret --config``, the explorer and the illustration all prepare clips with it.
units
    Canonical units (model, condition, method, clip batch) keyed by SHA-256, the grid's
    :class:`~.units.GridPlan` and its shards (``i::n``).
runner
    :func:`run_experiment`: the grid or one shard of it; resumable, verified, with a progress
    bar; the whole grid merges itself.
store, lock
    Unit files with completion records, the tidy table, the paper layout's CSVs; run locks
    naming their holder.
merge, manifest
    ``audiointerp merge``: every planned unit present once and verified, then the tables and
    the manifest (config, content hashes, versions, timings per session, memory).
launch, jobs
    ``audiointerp launch``: the shards as a submitit job array (Slurm or local), then merge;
    whether an earlier launch's jobs are still queued or running.
sanity
    The model-randomization check per method, as part of a run.
"""
