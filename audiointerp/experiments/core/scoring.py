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
from collections.abc import Mapping, Sequence
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
#: Per-mask flags: the mask's spread over bins and whether it is (near-)constant.
FLAG_COLUMNS = ("mask_std", "degenerate")
#: Areas under the deletion / insertion curves, one per fill (``faithfulness.FILLS``).
CURVE_COLUMNS = ("deletion_floor", "insertion_floor", "deletion_road", "insertion_road")


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
    attributions: torch.Tensor | None = None,
    curves: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Per mask, the row values of every clip (``{mask: {column: (B,) array}}``).

    Columns: :data:`CLIP_COLUMNS`, :data:`METRIC_COLUMNS` (SPS and COMP NaN for an empty
    mask: undefined), :data:`FLAG_COLUMNS` and, with stems, :data:`GT_COLUMNS`
    (``loc_auc`` of the mask against the ideal mask, ``relevance_mass`` of the positive
    ``attributions`` inside it, ``si_sdr``/``si_sdri`` of the masked-in audio, from
    ``si_sdr`` ``(M, B)``); ``curves`` (from :func:`curve_columns`, the same for every mask)
    are appended. The probabilities and metrics are those of the explained class: ``target``
    when given, else the prediction; with a ``target`` an ``explained`` column names it.
    """
    from audiointerp import metrics

    pred_np = to_numpy(batch.prediction)
    explained = batch.prediction if target is None else target.to(batch.prediction)
    c_np = to_numpy(explained)
    idx = np.arange(len(batch.ids))
    p_np = to_numpy(batch.probs)
    mass = None
    if batch.ideal is not None and attributions is not None:
        mass = np.asarray(metrics.relevance_mass(attributions, batch.ideal)).reshape(-1)
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
        row["mask_std"] = np.asarray(metrics.mask_spread(mask), dtype=np.float64).reshape(-1)
        row["degenerate"] = row["mask_std"] < metrics.DEGENERATE_STD
        if batch.ideal is not None:
            row["loc_auc"] = np.asarray(metrics.localization_auc(mask, batch.ideal)).reshape(-1)
            if mass is not None:
                row["relevance_mass"] = mass
            if si_sdr is not None:
                row["si_sdr"] = si_sdr[j]
                row["si_sdri"] = si_sdr[j] - batch.si_sdr_mix
        row.update(curves or {})
        out[name] = row
    return out


def curve_columns(
    model: nn.Module,
    batch: PreparedBatch,
    attributions: torch.Tensor,
    explained: torch.Tensor,
    *,
    fills: Sequence[str],
    base: float,
    seeds: Sequence[int],
    batch_size: int = 64,
    n_steps: int | None = None,
) -> dict[str, np.ndarray]:
    """Deletion and insertion curves of every clip (Petsiuk et al. 2018), ``(B,)`` columns.

    Each clip's curve inputs (every fill, both directions) go through the model in passes of
    ``batch_size``, clip by clip, bit-identical inputs once (the input itself, the all-floor
    input shared by both fills). Columns: the area under each curve
    (``<direction>_<fill>``, :data:`CURVE_COLUMNS`) and its points
    (``faithfulness.column_names``, probabilities of the explained class rounded to 1e-4).

    Parameters
    ----------
    model, batch
        The classifier and the prepared batch.
    attributions : torch.Tensor (B, 1, F, T)
        The maps that rank the bins.
    explained : torch.Tensor (B,)
        Class scored per clip.
    fills : sequence of {"floor", "road"}
        Fills of removed bins (empty: no columns).
    base : float
        The silence floor.
    seeds : sequence of int
        One seed per clip (tie order, ROAD noise).
    batch_size : int
    n_steps : int, optional
        Steps per curve (default ``faithfulness.N_STEPS``).
    """
    from audiointerp import faithfulness as fa

    n_steps = fa.N_STEPS if n_steps is None else int(n_steps)
    fills = list(dict.fromkeys(fills))
    if not fills:
        return {}
    n = len(batch.ids)
    scores = {(f, d): np.empty((n, n_steps + 1)) for f in fills for d in fa.DIRECTIONS}
    c_np = to_numpy(explained)
    for b in range(n):
        rng = np.random.default_rng(int(seeds[b]))
        x, a = batch.features[b : b + 1], attributions[b : b + 1]
        order = fa.removal_order(a, rng)
        inputs = {
            f: fa.curve_inputs(x, a, fill=f, base=base, rng=rng, n_steps=n_steps, order=order)
            for f in fills
        }
        own = _digests(x)[0]
        index: dict[bytes, int] = {own: -1}
        rows: list[torch.Tensor] = []
        where: dict[tuple[str, str], list[int]] = {}
        for f in fills:
            for d in fa.DIRECTIONS:
                v = inputs[f][d]
                slots = []
                for key, row in zip(_digests(v), v, strict=True):
                    if key not in index:
                        index[key] = len(rows)
                        rows.append(row)
                    slots.append(index[key])
                where[(f, d)] = slots
        probs = predict_probs(model, torch.stack(rows), batch_size) if rows else None
        p_own = float(batch.probs[b, c_np[b]])
        for key, slots in where.items():
            scores[key][b] = [p_own if r < 0 else float(probs[r, c_np[b]]) for r in slots]
    out: dict[str, np.ndarray] = {}
    for (f, d), s in scores.items():
        out[f"{d}_{f}"] = fa.curve_auc(s)
    for (f, d), s in scores.items():
        for j, col in enumerate(fa.column_names(f, d, n_steps)):
            out[col] = np.round(s[:, j], 4)
    return out
