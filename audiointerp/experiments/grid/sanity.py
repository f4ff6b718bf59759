"""The model-randomization sanity check of each method, as part of a grid run.

For each model, ``sanity_clips`` clean test clips are attributed with the trained model and
with copies whose layers are randomized top-down (``interpretation.sanity``); a method passes
when its maps stop resembling the trained model's. One file per model,
``<output>/<model>/sanity.csv`` (read by the tables), written atomically and skipped when present.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from audiointerp.experiments.grid.store import atomic_write_csv, read_csv

log = logging.getLogger(__name__)


def sanity_path(output: str | Path, model_name: str) -> Path:
    return Path(output) / model_name / "sanity.csv"


def run_sanity(
    model_name: str,
    model: torch.nn.Module,
    features: torch.Tensor,
    methods: dict[str, Any],
    *,
    output: str | Path,
    seed: int = 0,
) -> pd.DataFrame:
    """Run (or read back) the cascading-randomization check of ``methods`` on ``features``.

    Parameters
    ----------
    model_name : str
        Result-folder name of the model.
    model : nn.Module
        Trained classifier in eval mode.
    features : torch.Tensor (B, 1, F, T)
        Clean test clips.
    methods : dict of str to AttributionMethod
    output : str or Path
        Results root.
    seed : int

    Returns
    -------
    pd.DataFrame
        A row per method: ``model, method, n_clips, n_layers, rho_top, rho_all, threshold,
        passed, status`` (``rho_*`` = median |Spearman rho| after the top / every layer).
    """
    from audiointerp.interpretation.sanity import cascading_randomization

    path = sanity_path(output, model_name)
    if path.is_file():
        return read_csv(path)
    rows = []
    for name, method in methods.items():
        torch.manual_seed(seed)
        res = cascading_randomization(method, model, features, seed=seed)
        corr = np.abs(res.correlations)
        rows.append(
            {
                "model": model_name,
                "method": name,
                "n_clips": int(features.shape[0]),
                "n_layers": len(res.layers),
                "rho_top": float(np.median(corr[0])) if len(corr) else np.nan,
                "rho_all": float(np.median(corr[-1])) if len(corr) else np.nan,
                "threshold": res.threshold,
                "passed": bool(res.passed),
                "status": "pass" if res.passed else "fail",
            }
        )
        log.info("sanity %s/%s: %s", model_name, name, rows[-1]["status"])
    df = pd.DataFrame(rows)
    atomic_write_csv(df, path)
    return df
