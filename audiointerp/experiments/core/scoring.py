"""Scoring masks: masked-in / masked-out evaluation, de-duplicated, and the metric rows.

Every method is scored by the same rule (DESIGN.md, data flow step 6): masked-in input
``(X - base) * M + base``, masked-out ``(X - base) * (1 - M) + base``, ``base`` the silence
floor. The cost of the grid is model evaluations, so each clip's distinct masked variants go
through the model in as few passes as ``batch_size`` allows; a variant bit-identical to one
already evaluated (two masks that coincide for a clip, the all-floor input of every empty mask,
a full mask that returns the input) is evaluated once. Variants are grouped per clip, so a
clip's probabilities never depend on the other clips of its batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from audiointerp.experiments.core.batch import PreparedBatch, predict_probs, to_numpy
from audiointerp.interpretation.masks import apply_mask

#: Columns every row carries besides the keys (model, condition, method, mask, id).
CLIP_COLUMNS = ("label", "category", "prediction", "correct", "p", "p_in", "p_out")
#: Fidelity and simplicity metrics, in the paper's order.
METRIC_COLUMNS = ("FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP")
#: Ground-truth metrics, present where the data has stems.
GT_COLUMNS = ("loc_auc", "relevance_mass", "si_sdr", "si_sdri")


@dataclass
class MaskedProbs:
    """Probabilities of the masked-in and masked-out inputs of one mask, ``(B, C)`` each."""

    p_in: torch.Tensor
    p_out: torch.Tensor


def _digests(x: torch.Tensor) -> list[bytes]:
    """128-bit BLAKE2 of each input's bytes, ``x`` ``(B, ...)``: collisions are negligible and
    hashing costs about 1 % of a forward pass of the same input (one device transfer per call).
    """
    arr = x.detach().contiguous().cpu().numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in arr]


def evaluate_masks(
    model: nn.Module,
    features: torch.Tensor,
    probs: torch.Tensor,
    masks: Mapping[str, torch.Tensor],
    *,
    base: float,
    batch_size: int = 64,
) -> tuple[dict[str, MaskedProbs], dict[str, int]]:
    """Probabilities of every masked-in and masked-out variant of a batch.

    Parameters
    ----------
    model : nn.Module
        Classifier in eval mode.
    features : torch.Tensor (B, 1, F, T)
        Model input.
    probs : torch.Tensor (B, C)
        Probabilities of ``features`` (reused for variants equal to the input).
    masks : mapping of str to torch.Tensor (B, 1, F, T)
        Masks in [0, 1].
    base : float
        Masking base (the frontend's silence floor in dB).
    batch_size : int
        Most inputs per forward pass (one clip's variants per pass).

    Returns
    -------
    results : dict of str to MaskedProbs
    counts : dict
        ``variants`` (masked inputs requested) and ``evaluated`` (distinct inputs run).
    """
    n = features.shape[0]
    own = _digests(features)
    names = list(masks)
    # slot[name][side][b] -> (clip, row in that clip's evaluated variants), row -1 = the input
    per_clip: list[list[torch.Tensor]] = [[] for _ in range(n)]
    index: list[dict[bytes, int]] = [{own[b]: -1} for b in range(n)]
    slots: dict[str, tuple[list[int], list[int]]] = {}
    for name in names:
        pair: tuple[list[int], list[int]] = ([], [])
        for side, m in ((0, masks[name]), (1, 1.0 - masks[name])):
            variants = apply_mask(features, m, base)
            # A full mask gives the input back up to rounding of (x - base) + base: reuse p.
            full = (m == 1).flatten(1).all(dim=1).tolist()
            keys = _digests(variants)
            for b in range(n):
                key = own[b] if full[b] else keys[b]
                if key not in index[b]:
                    index[b][key] = len(per_clip[b])
                    per_clip[b].append(variants[b])
                pair[side].append(index[b][key])
        slots[name] = pair
    evaluated = [predict_probs(model, torch.stack(v), batch_size) if v else None for v in per_clip]

    def gather(rows: list[int]) -> torch.Tensor:
        return torch.stack([probs[b] if r < 0 else evaluated[b][r] for b, r in enumerate(rows)])

    results = {name: MaskedProbs(gather(i), gather(o)) for name, (i, o) in slots.items()}
    counts = {"variants": 2 * n * len(names), "evaluated": sum(len(v) for v in per_clip)}
    return results, counts


def evaluate_masks_naive(
    model: nn.Module,
    features: torch.Tensor,
    masks: Mapping[str, torch.Tensor],
    *,
    base: float,
) -> dict[str, MaskedProbs]:
    """Reference implementation: one forward pass per mask and side (for tests)."""
    out = {}
    for name, mask in masks.items():
        p_in = predict_probs(model, apply_mask(features, mask, base), features.shape[0])
        p_out = predict_probs(model, apply_mask(features, 1.0 - mask, base), features.shape[0])
        out[name] = MaskedProbs(p_in, p_out)
    return out


def metric_rows(
    batch: PreparedBatch,
    masks: Mapping[str, torch.Tensor],
    masked: Mapping[str, MaskedProbs],
    *,
    si_sdr: np.ndarray | None = None,
    target: torch.Tensor | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Per mask, the row values of every clip (``{mask: {column: (B,) array}}``).

    Columns: :data:`CLIP_COLUMNS`, :data:`METRIC_COLUMNS` and, with stems,
    :data:`GT_COLUMNS` (``loc_auc`` and ``relevance_mass`` of the mask against the ideal
    mask; ``si_sdr``/``si_sdri`` of the masked-in audio, from ``si_sdr`` ``(M, B)``). The
    probabilities and metrics are those of the explained class: ``target`` when given, else
    the prediction; with a ``target`` an ``explained`` column names it.
    """
    from audiointerp import metrics

    pred_np = to_numpy(batch.prediction)
    explained = batch.prediction if target is None else target.to(batch.prediction)
    c_np = to_numpy(explained)
    idx = np.arange(len(batch.ids))
    p_np = to_numpy(batch.probs)
    out = {}
    for j, (name, mask) in enumerate(masks.items()):
        p_in, p_out = masked[name].p_in, masked[name].p_out
        fid = metrics.fidelity(batch.probs, p_in, p_out, target=explained)
        row: dict[str, np.ndarray] = {
            "label": batch.labels,
            "category": np.asarray(batch.categories, dtype=object),
            "prediction": pred_np,
            "correct": pred_np == batch.labels,
            "p": p_np[idx, c_np],
            "p_in": to_numpy(p_in)[idx, c_np],
            "p_out": to_numpy(p_out)[idx, c_np],
        }
        if target is not None:
            row["explained"] = c_np
        for key in ("FF", "AI", "AD", "AG", "FidIn"):
            row[key] = np.asarray(fid[key], dtype=np.float64).reshape(-1)
        row["SPS"] = np.asarray(metrics.sparseness(mask), dtype=np.float64).reshape(-1)
        row["COMP"] = np.asarray(metrics.complexity(mask), dtype=np.float64).reshape(-1)
        if batch.ideal is not None:
            row["loc_auc"] = np.asarray(metrics.localization_auc(mask, batch.ideal)).reshape(-1)
            row["relevance_mass"] = np.asarray(metrics.relevance_mass(mask, batch.ideal)).reshape(
                -1
            )
            if si_sdr is not None:
                row["si_sdr"] = si_sdr[j]
                row["si_sdri"] = si_sdr[j] - batch.si_sdr_mix
        out[name] = row
    return out
