"""The experiment grid: config, conditions, the session that opens its inputs, the runner, the
result store and the manifest.

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
runner
    :func:`run_experiment`: resumable, atomic, with a progress bar and a manifest.
store, manifest
    Unit files, the tidy table, the paper layout's CSVs; config, content hashes, versions,
    timings, memory.
sanity
    The model-randomization check per method, as part of a run.
"""
