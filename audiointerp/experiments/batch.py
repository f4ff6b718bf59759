"""One batch of the grid: attribute, mask, evaluate, score; returns the rows of each method.

Work shared by all methods of a batch (loading, mixing, analysis, prediction, the ideal mask)
is done once per (model, condition, batch); each method then attributes once, all masks are
built from that map and evaluated together (:func:`~.evaluation.evaluate_masks`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiointerp.experiments.evaluation import evaluate_masks, predict_probs, to_numpy

# Methods whose maps depend on random draws: attributed clip by clip with a generator seeded
# from (seed, method, clip id), so a row never depends on batch composition or process order.
STOCHASTIC_METHODS = frozenset({"lime", "shap"})


@dataclass
class StageTimer:
    """Accumulated wall-clock seconds and call counts per named stage."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        import time

        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(n)


@dataclass
class PreparedBatch:
    """The method-independent part of a batch under one model and condition."""

    ids: list[str]
    labels: np.ndarray  # (B,) in the model's class indices
    categories: list[str]
    spec: object  # processing Spectrogram
    features: torch.Tensor  # (B, 1, F, T)
    probs: torch.Tensor  # (B, C)
    prediction: torch.Tensor  # (B,)
    waves: torch.Tensor  # (B, N) the model's input audio
    target: torch.Tensor | None = None  # (B, N) clean target stem under the condition
    ideal: torch.Tensor | None = None  # (B, 1, F, T) ground-truth mask
    si_sdr_mix: np.ndarray | None = None  # (B,) SI-SDR of the input vs the target stem


def clip_seed(seed: int, method: str, clip_id: str) -> int:
    """A 63-bit seed that depends only on the run seed, the method and the clip id."""
    return (int(seed) * 1_000_003 + zlib.crc32(f"{method}/{clip_id}".encode())) % (2**63)


def attribute(
    method_name: str,
    method: object,
    model: nn.Module,
    batch: PreparedBatch,
    *,
    seed: int,
) -> torch.Tensor:
    """Attribute the predicted class of every clip of ``batch``; ``(B, 1, F, T)`` float32."""
    target = batch.prediction
    if method_name not in STOCHASTIC_METHODS:
        return method.attribute(model, batch.features, target)
    maps = []
    own_seed = getattr(method, "seed", None)
    for b, clip_id in enumerate(batch.ids):
        s = clip_seed(seed, method_name, clip_id)
        if own_seed is not None:  # methods with their own generator (LIME's sampler)
            method.seed = s % (2**31)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            np_state = np.random.get_state()
            np.random.seed(s % (2**32))
            try:
                maps.append(method.attribute(model, batch.features[b : b + 1], target[b : b + 1]))
            finally:
                np.random.set_state(np_state)
    if own_seed is not None:
        method.seed = own_seed
    return torch.cat(maps)


def prepare_batch(
    model: nn.Module,
    frontend: object,
    waves: np.ndarray,
    *,
    ids: list[str],
    labels: np.ndarray,
    categories: list[str],
    target: np.ndarray | None,
    background: np.ndarray | None,
    device: torch.device,
    max_batch: int,
    timer: StageTimer,
) -> PreparedBatch:
    """Analyze, predict and (with stems) build the ideal mask of a conditioned batch."""
    from audiointerp import metrics

    with timer("analyze"):
        wave_t = torch.from_numpy(np.ascontiguousarray(waves)).to(device)
        with torch.inference_mode():
            spec = frontend.analyze(wave_t)
        features = spec.features.clone()
    with timer("predict"):
        probs = predict_probs(model, features, max_batch)
    out = PreparedBatch(
        ids=ids,
        labels=labels,
        categories=categories,
        spec=spec,
        features=features,
        probs=probs,
        prediction=probs.argmax(dim=-1),
        waves=wave_t,
    )
    if target is not None and background is not None:
        from audiointerp.processing.ground_truth import ideal_mask

        with timer("ground_truth"):
            out.target = torch.from_numpy(np.ascontiguousarray(target)).to(device)
            bg = torch.from_numpy(np.ascontiguousarray(background)).to(device)
            with torch.inference_mode():
                out.ideal = ideal_mask(frontend, out.target, bg)
            out.si_sdr_mix = np.asarray(metrics.si_sdr(to_numpy(wave_t), to_numpy(out.target)))
    return out


def method_rows(
    batch: PreparedBatch,
    attributions: torch.Tensor,
    masks: Mapping[str, torch.Tensor],
    *,
    model: nn.Module,
    frontend: object,
    resynthesize: Callable[[object, torch.Tensor], torch.Tensor] | None,
    max_batch: int,
    timer: StageTimer,
) -> pd.DataFrame:
    """Evaluate every mask of one method on one batch and return its rows.

    Returns
    -------
    pd.DataFrame
        A row per (mask, clip) in mask-major order with the columns of
        :data:`audiointerp.experiments.store.CLIP_COLUMNS`, the metrics and, with stems, the
        ground-truth metrics (``loc_auc``, ``relevance_mass`` of the mask against the ideal
        mask; ``si_sdr``/``si_sdri`` of the masked-in audio against the target stem).
    """
    from audiointerp import metrics

    with timer("forward_masked"):
        masked, counts = evaluate_masks(
            model, batch.features, batch.probs, masks, base=frontend.floor_db, max_batch=max_batch
        )
    timer.count("masked_variants", counts["variants"])
    timer.count("masked_forwards", counts["evaluated"])
    pred = batch.prediction
    pred_np = to_numpy(pred)
    idx = np.arange(len(batch.ids))
    p_np = to_numpy(batch.probs)
    sdr = _masked_in_si_sdr(batch, masks, resynthesize, timer) if resynthesize else None
    frames = []
    for j, (name, mask) in enumerate(masks.items()):
        with timer("metrics"):
            p_in, p_out = masked[name].p_in, masked[name].p_out
            fid = metrics.fidelity(batch.probs, p_in, p_out, target=pred)
            row = {
                "mask": name,
                "id": batch.ids,
                "label": batch.labels,
                "category": batch.categories,
                "prediction": pred_np,
                "correct": pred_np == batch.labels,
                "p": p_np[idx, pred_np],
                "p_in": to_numpy(p_in)[idx, pred_np],
                "p_out": to_numpy(p_out)[idx, pred_np],
            }
            for key in ("FF", "AI", "AD", "AG", "FidIn"):
                row[key] = np.asarray(fid[key], dtype=np.float64).reshape(-1)
            row["SPS"] = np.asarray(metrics.sparseness(mask), dtype=np.float64).reshape(-1)
            row["COMP"] = np.asarray(metrics.complexity(mask), dtype=np.float64).reshape(-1)
        if batch.ideal is not None:
            with timer("ground_truth"):
                row["loc_auc"] = np.asarray(metrics.localization_auc(mask, batch.ideal)).reshape(-1)
                row["relevance_mass"] = np.asarray(
                    metrics.relevance_mass(mask, batch.ideal)
                ).reshape(-1)
            if sdr is not None:
                row["si_sdr"] = sdr[j]
                row["si_sdri"] = sdr[j] - batch.si_sdr_mix
        frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True)


# Most clips x masks resynthesized in one call (bounds the tiled STFT's memory).
RESYNTH_CHUNK = 128


def _masked_in_si_sdr(
    batch: PreparedBatch,
    masks: Mapping[str, torch.Tensor],
    resynthesize: Callable[[object, torch.Tensor], torch.Tensor],
    timer: StageTimer,
) -> np.ndarray:
    """SI-SDR (dB) of every mask's masked-in audio against the target stem, ``(M, B)``.

    Masks are resynthesized many per call (the spectrogram tiled with ``Spectrogram.take``):
    one call per mask costs about three times more, in per-call overhead, than the inversion.
    """
    from audiointerp import metrics

    n = len(batch.ids)
    stacked = torch.cat(list(masks.values()))  # (M * B, 1, F, T), mask-major
    per_call = max(1, RESYNTH_CHUNK // n)
    ref = to_numpy(batch.target)
    out = []
    with timer("resynthesize"), torch.inference_mode():
        for start in range(0, len(masks), per_call):
            m = stacked[start * n : (start + per_call) * n]
            k = m.shape[0] // n
            idx = torch.arange(n, device=m.device).repeat(k)
            est = to_numpy(resynthesize(batch.spec.take(idx), m))
            sdr = np.asarray(metrics.si_sdr(est, np.tile(ref, (k, 1))), dtype=np.float64)
            out.append(sdr.reshape(k, n))
    return np.concatenate(out)
