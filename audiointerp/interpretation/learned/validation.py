"""Validation numbers of a fitted interpreter on the held-out fold, per condition.

The native mask is scored as the explain-and-score core scores it (masked-in / masked-out with
the core's rule, the classifier's own prediction as the class), so the numbers on a model card
read like the grid's: FidIn, AI, AD, AG, FF and, with stems, the localization AUC against the
ideal mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from audiointerp import metrics
from audiointerp.interpretation.learned import data as fitdata
from audiointerp.interpretation.masks import apply_mask

METRICS = ("FidIn", "AI", "AD", "AG", "FF")


@torch.no_grad()
def score_native(interp: Any, model: nn.Module, frontend: Any, batch: Any) -> dict[str, np.ndarray]:
    """Per-clip metrics of the interpreter's native mask on one prepared batch."""
    ex = interp.explain(model, batch.features, batch.target)
    mask = ex.native_mask.clamp(0.0, 1.0)
    base = frontend.floor_db
    p = batch.logits.softmax(-1)
    p_in = model(apply_mask(batch.features, mask, base)).softmax(-1)
    p_out = model(apply_mask(batch.features, 1.0 - mask, base)).softmax(-1)
    out = metrics.fidelity(p, p_in, p_out, target=batch.target)
    out["mask_mean"] = mask.flatten(1).mean(1).cpu().numpy()
    if batch.ideal is not None:
        out["loc_auc"] = metrics.localization_auc(mask, batch.ideal)
    return out


def validation_metrics(
    interp: Any,
    model: nn.Module,
    frontend: Any,
    valid: fitdata.FitSplit,
    noises: dict[str, np.ndarray],
    *,
    alpha: float,
    batch_size: int = 32,
) -> dict[str, dict[str, float]]:
    """Mean metrics of the native mask on every validation clip under each condition.

    Returns
    -------
    dict
        ``{condition: {metric: mean}}`` for ``clean`` and each noise (offset 0, the grid's).
    """
    out: dict[str, dict[str, float]] = {}
    zeros = np.zeros(len(valid), dtype=np.int64)
    for cond in (fitdata.CLEAN, *noises):
        rows: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(valid), batch_size):
            idx = np.arange(start, min(start + batch_size, len(valid)))
            waves, target = fitdata.condition_waves(
                valid, idx, [cond] * len(idx), zeros[idx], noises, alpha=alpha
            )
            batch = fitdata.make_batch(
                model, frontend, waves, valid.labels[idx], target=target, device=_device(model)
            )
            for key, value in score_native(interp, model, frontend, batch).items():
                rows.setdefault(key, []).append(np.asarray(value, dtype=np.float64))
        out[cond] = {k: round(float(np.concatenate(v).mean()), 4) for k, v in rows.items()}
    return out


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
