"""The explain-and-score core shared by the grid, ``interpret``, the illustration and the explorer.

Modules
-------
batch
    :class:`PreparedBatch` / :func:`prepare_batch`: clips analysed and predicted (clip by clip),
    with the ideal mask and target stem where the data has stems; :class:`StageTimer`.
context
    :func:`method_context` (the model, its frontend, training data from a data set) and
    :func:`build_methods`: every method built from config options the same way.
scoring
    The one masked-in / masked-out rule, de-duplicated per clip, and the metric rows.
explain
    :func:`explain_batch`: attribute, mask, score, sonify; :func:`clip_seed`, :func:`regions`.
"""

from audiointerp.experiments.core.batch import PreparedBatch, StageTimer, prepare_batch
from audiointerp.experiments.core.context import DatasetTraining, build_methods, method_context
from audiointerp.experiments.core.explain import (
    BatchExplanation,
    clip_seed,
    explain_batch,
    grid_rectangle,
    mask_names_for,
    masked_features,
    regions,
)
from audiointerp.experiments.core.scoring import (
    CLIP_COLUMNS,
    CURVE_COLUMNS,
    FLAG_COLUMNS,
    GT_COLUMNS,
    METRIC_COLUMNS,
    evaluate_masks,
)

__all__ = [
    "CLIP_COLUMNS",
    "CURVE_COLUMNS",
    "FLAG_COLUMNS",
    "GT_COLUMNS",
    "METRIC_COLUMNS",
    "BatchExplanation",
    "DatasetTraining",
    "PreparedBatch",
    "StageTimer",
    "build_methods",
    "clip_seed",
    "evaluate_masks",
    "explain_batch",
    "grid_rectangle",
    "mask_names_for",
    "masked_features",
    "method_context",
    "prepare_batch",
    "regions",
]
