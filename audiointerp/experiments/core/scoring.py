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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from audiointerp.experiments.columns import (  # noqa: F401  (the row schema, re-exported)
    CLIP_COLUMNS,
    CURVE_COLUMNS,
    FLAG_COLUMNS,
    GT_COLUMNS,
    METRIC_COLUMNS,
)
from audiointerp.experiments.core.batch import PreparedBatch, predict_probs, to_numpy
from audiointerp.interpretation.masks import apply_mask


@dataclass
class MaskedProbs:
    """Probabilities of the masked-in and masked-out inputs of one mask, ``(B, C)`` each."""

    p_in: torch.Tensor
    p_out: torch.Tensor


class _Distinct:
    """The distinct inputs of one clip, in order of first appearance.

    A key of a few hundred sampled values finds the candidates and ``torch.equal`` confirms,
    so two inputs share a row only when they are equal (no hash can collide), at a tenth of
    the cost of hashing every byte.
    """

    SAMPLES = 256

    def __init__(self, own: torch.Tensor) -> None:
        self.rows: list[torch.Tensor] = []
        self._where: torch.Tensor | None = None
        self._buckets: dict[bytes, list[tuple[torch.Tensor, int]]] = {}
        self._add(own.reshape(-1), -1)

    def _keys(self, flat: torch.Tensor) -> list[bytes]:
        if self._where is None or self._where.device != flat.device:
            step = max(1, flat.shape[1] // self.SAMPLES)
            self._where = torch.arange(0, flat.shape[1], step, device=flat.device)
        sample = flat[:, self._where].detach().cpu().numpy()
        return [row.tobytes() for row in sample]

    def _add(self, row: torch.Tensor, slot: int) -> None:
        key = self._keys(row[None])[0]
        self._buckets.setdefault(key, []).append((row, slot))

    def index(self, variants: torch.Tensor, same: Sequence[bool] | None = None) -> list[int]:
        """Row of each input of ``variants`` ``(K, ...)`` among the distinct ones (added when
        new); -1 for the clip's own input. ``same[i]``: input ``i`` is known to be the own
        input (a full mask: equal up to rounding, scored with ``p``)."""
        flat = variants.reshape(variants.shape[0], -1)
        slots = []
        for i, key in enumerate(self._keys(flat)):
            if same is not None and same[i]:
                slots.append(-1)
                continue
            bucket = self._buckets.setdefault(key, [])
            slot = next((r for row, r in bucket if torch.equal(row, flat[i])), None)
            if slot is None:
                slot = len(self.rows)
                self.rows.append(variants[i])
                bucket.append((flat[i], slot))
            slots.append(slot)
        return slots


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
    names = list(masks)
    # slot[name][side][b] -> row in clip b's distinct variants, -1 = the input itself
    stacked = torch.stack([masks[name] for name in names], dim=1)  # (B, M, 1, F, T)
    slots: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in names}
    distinct = [_Distinct(features[b]) for b in range(n)]
    for b in range(n):
        sides = torch.stack([stacked[b], 1.0 - stacked[b]], dim=1).flatten(0, 1)  # (2M, 1, F, T)
        # per mask its masked-in then masked-out input (the order rows are first seen in)
        variants = apply_mask(features[b : b + 1].expand_as(sides), sides, base)
        # A full mask gives the input back up to rounding of (x - base) + base: reuse p.
        full = (sides == 1).flatten(1).all(dim=1).tolist()
        where = distinct[b].index(variants, full)
        for j, name in enumerate(names):
            slots[name][0].append(where[2 * j])
            slots[name][1].append(where[2 * j + 1])
    per_clip = [d.rows for d in distinct]
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
) -> dict[str, np.ndarray]:
    """The row values of every (mask, clip), mask-major: ``{column: (M * B,) array}``.

    Columns: ``mask``, ``id``, :data:`CLIP_COLUMNS`, :data:`METRIC_COLUMNS` (SPS and COMP
    NaN for an empty mask: undefined), :data:`FLAG_COLUMNS` and, with stems,
    :data:`GT_COLUMNS` (``loc_auc`` of the mask against the ideal mask, ``relevance_mass``
    of the positive ``attributions`` inside it, ``si_sdr``/``si_sdri`` of the masked-in
    audio, from ``si_sdr`` ``(M, B)``); ``curves`` (from :func:`curve_columns`, the same for
    every mask) are appended. The probabilities and metrics are those of the explained class:
    ``target`` when given, else the prediction; with a ``target`` an ``explained`` column
    names it. Every metric runs once on the masks stacked along the batch axis (each row is
    reduced on its own, so the values are those of a mask-by-mask call).
    """
    from audiointerp import metrics

    names = list(masks)
    k, n = len(names), len(batch.ids)

    def tile(values: np.ndarray) -> np.ndarray:  # a per-clip column repeated for every mask
        return np.tile(np.asarray(values), k)

    pred_np = to_numpy(batch.prediction)
    explained = batch.prediction if target is None else target.to(batch.prediction)
    c_np = to_numpy(explained)
    idx = np.arange(n)
    p_np = to_numpy(batch.probs)
    p_in = torch.cat([masked[m].p_in for m in names])
    p_out = torch.cat([masked[m].p_out for m in names])
    stacked = torch.cat([masks[m] for m in names])
    c_all = np.tile(c_np, k)
    rows_all = np.arange(k * n)
    fid = metrics.fidelity(batch.probs.repeat(k, 1), p_in, p_out, target=c_all)
    out: dict[str, np.ndarray] = {
        "mask": np.repeat(np.asarray(names, dtype=object), n),
        "id": tile(np.asarray(batch.ids, dtype=object)),
        "label": tile(batch.labels),
        "category": tile(np.asarray(batch.categories, dtype=object)),
        "prediction": tile(pred_np),
        "correct": tile(pred_np == batch.labels),
        "p": tile(p_np[idx, c_np]),
        "p_in": to_numpy(p_in)[rows_all, c_all],
        "p_out": to_numpy(p_out)[rows_all, c_all],
    }
    if target is not None:
        out["explained"] = c_all
    for key in ("FF", "AI", "AD", "AG", "FidIn"):
        out[key] = np.asarray(fid[key], dtype=np.float64).reshape(-1)
    out["SPS"] = np.asarray(metrics.sparseness(stacked), dtype=np.float64).reshape(-1)
    out["COMP"] = np.asarray(metrics.complexity(stacked), dtype=np.float64).reshape(-1)
    out["mask_std"] = np.asarray(metrics.mask_spread(stacked), dtype=np.float64).reshape(-1)
    out["degenerate"] = out["mask_std"] < metrics.DEGENERATE_STD
    if batch.ideal is not None:
        ideal = batch.ideal.repeat(k, 1, 1, 1)
        order = None
        if attributions is not None:  # sorts the soft masks (monotone in the map): no sort each
            flat = to_numpy(attributions).reshape(n, -1)
            order = np.argsort(flat, axis=1, kind="stable")[np.tile(idx, k)]
        auc = metrics.localization_auc(stacked, ideal, order=order)
        out["loc_auc"] = np.asarray(auc).reshape(-1)
        if attributions is not None:
            mass = metrics.relevance_mass(attributions, batch.ideal)
            out["relevance_mass"] = tile(np.asarray(mass).reshape(-1))
        if si_sdr is not None:
            out["si_sdr"] = np.asarray(si_sdr).reshape(-1)
            out["si_sdri"] = (np.asarray(si_sdr) - batch.si_sdr_mix).reshape(-1)
    for key, values in (curves or {}).items():
        out[key] = tile(values)
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
        distinct = _Distinct(x[0])
        where = {(f, d): distinct.index(inputs[f][d]) for f in fills for d in fa.DIRECTIONS}
        rows = distinct.rows
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
