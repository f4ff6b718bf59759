"""The explain-and-score core: one batch, one method -> maps, masks, probabilities, metrics, audio.

:func:`explain_batch` is the only place where a method's map becomes masks and numbers. The
grid runner, ``audiointerp interpret``, the illustration, the listening page and the explorer
all call it, so the same clip with the same options and seed gives the same numbers
everywhere:

1. attribute clip by clip (stochastic methods seeded from ``(seed, method, clip id)``);
2. build the requested masks (the 14 threshold masks, plus ``native`` for methods that give
   their own mask);
3. score every mask with the one masked-in / masked-out rule (:mod:`.scoring`);
4. with stems, the ground-truth metrics and the SI-SDR of the masked-in audio; on request,
   the masked-in and masked-out audio of every mask.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.experiments.core.batch import PreparedBatch, StageTimer, to_numpy
from audiointerp.experiments.core.scoring import (
    MaskedProbs,
    curve_columns,
    evaluate_masks,
    metric_rows,
)
from audiointerp.interpretation import AttributionMethod, Explanation, Region
from audiointerp.interpretation.masks import (
    ALL_MASK_NAMES,
    MASK_NAMES,
    NATIVE_MASK,
    apply_mask,
    make_masks,
)
from audiointerp.runtime import memory_batch_size, pass_working_set, tune_allocator
from audiointerp.validation import check_choice

# Most clips x masks resynthesized in one call (bounds the tiled STFT's memory).
RESYNTH_CHUNK = 128


def clip_seed(seed: int, method: str, clip_id: str) -> int:
    """A 63-bit seed that depends only on the run seed, the method and the clip id."""
    return (int(seed) * 1_000_003 + zlib.crc32(f"{method}/{clip_id}".encode())) % (2**63)


def mask_names_for(method: AttributionMethod, masks: Sequence[str] | None) -> list[str]:
    """The masks scored for ``method``: ``masks`` (default all 14), plus ``native`` when the
    method gives its own mask and ``masks`` does not already list it."""
    names = list(MASK_NAMES if masks is None else masks)
    for name in names:
        check_choice("mask", name, (*ALL_MASK_NAMES, NATIVE_MASK))
    if NATIVE_MASK in names and not method.gives_native_mask:
        raise ParameterError(
            f"mask {NATIVE_MASK!r}: method {method.name!r} has no native mask; use the 14 "
            "threshold masks"
        )
    if method.gives_native_mask and NATIVE_MASK not in names:
        names.append(NATIVE_MASK)
    return names


@dataclass
class BatchExplanation:
    """One method on one batch: everything the views and the tables show.

    Attributes
    ----------
    method : str
    attributions : torch.Tensor (B, 1, F, T)
    masks : dict of str to torch.Tensor (B, 1, F, T)
        In scoring order.
    masked : dict of str to MaskedProbs
        Probabilities of the masked-in / masked-out inputs.
    rows : pd.DataFrame
        A row per (mask, clip), mask-major: ``mask, id``, the clip columns, every metric and
        the method's ``info`` columns (the grid prepends ``model, condition, method``).
    regions : list of ((f0, f1), (t0, t1)) or None
        The method's most important rectangle per clip (slice method).
    details : dict of str to torch.Tensor
        The method's per-clip extras (e.g. the slice drops).
    info : dict
        Provenance columns (also in ``rows``).
    audio : dict of str to (torch.Tensor, torch.Tensor) or None
        Per mask, masked-in and masked-out audio ``(B, N)`` (when asked for).
    """

    method: str
    attributions: torch.Tensor
    masks: dict[str, torch.Tensor]
    masked: dict[str, MaskedProbs]
    rows: pd.DataFrame
    regions: list[Region] | None = None
    details: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    audio: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None

    def row(self, mask: str, clip: int = 0) -> dict[str, Any]:
        """The row of one mask and clip as a plain dict."""
        n = len(self.rows) // max(len(self.masks), 1)
        j = list(self.masks).index(mask)
        return self.rows.iloc[j * n + clip].to_dict()


def attribute_clips(
    method_name: str,
    method: AttributionMethod,
    model: nn.Module,
    features: torch.Tensor,
    target: torch.Tensor,
    ids: Sequence[str],
    *,
    seed: int,
    ground_truth: torch.Tensor | None = None,
) -> Explanation:
    """``method.explain`` clip by clip (seeded per clip when stochastic), merged into one batch.

    One clip per call: a clip's map never depends on the other clips of its batch, on the
    batch order or on the process (the grid and the per-clip views agree bit for bit).
    ``ground_truth`` (the ideal masks) is passed to methods that declare ``needs_ground_truth``.
    """
    if method.needs_ground_truth and ground_truth is None:
        raise ParameterError(
            f"method {method.name!r} reads the ideal mask, which needs a data set with stems "
            "(the synthetic benchmark); it cannot explain these clips"
        )
    parts = []
    for b, clip_id in enumerate(ids):
        x, t = features[b : b + 1], target[b : b + 1]
        kw = {"ground_truth": ground_truth[b : b + 1]} if method.needs_ground_truth else {}
        if not method.stochastic:
            parts.append(method.explain(model, x, t, **kw))
            continue
        s = clip_seed(seed, method_name, clip_id)
        method.reseed(s)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            np_state = np.random.get_state()
            np.random.seed(s % (2**32))
            try:
                parts.append(method.explain(model, x, t, **kw))
            finally:
                np.random.set_state(np_state)
    return merge_explanations(parts)


def merge_explanations(parts: Sequence[Explanation]) -> Explanation:
    """Concatenate per-clip explanations along the batch axis."""
    first = parts[0]
    native = None
    if first.native_mask is not None:
        native = torch.cat([p.native_mask for p in parts])
    regions = None
    if first.regions is not None:
        regions = [r for p in parts for r in p.regions]
    details = {k: torch.cat([p.details[k] for p in parts]) for k in first.details}
    return Explanation(
        torch.cat([p.attributions for p in parts]), native, regions, details, dict(first.info)
    )


def explain_batch(
    batch: PreparedBatch,
    method: AttributionMethod,
    *,
    model: nn.Module,
    frontend: Any,
    method_name: str | None = None,
    masks: Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    resynth_route: str | None = "phase",
    audio: bool = False,
    target: torch.Tensor | None = None,
    curve_fills: Sequence[str] = (),
    timer: StageTimer | None = None,
) -> BatchExplanation:
    """Explain every clip of ``batch`` with ``method`` and score every mask.

    Parameters
    ----------
    batch : PreparedBatch
        From :func:`~.batch.prepare_batch`.
    method : AttributionMethod
        Built with :func:`~.context.build_methods` (or the registry).
    model, frontend
        The classifier (eval mode) and its frontend.
    method_name : str, optional
        The name the method is seeded and reported under (default ``method.name``).
    masks : sequence of str, optional
        Mask names (default all 14); ``native`` is added for methods with their own mask.
    seed : int
        Run seed: stochastic methods are seeded from ``(seed, method, clip id)``.
    batch_size : int
        Most masked variants per forward pass.
    resynth_route : {"phase", "paper", "paper_nnls", "griffinlim"} or None
        Inversion route of the masked-in audio (SI-SDR, ``audio``); ``None`` skips audio.
    audio : bool
        Also return every mask's masked-in and masked-out audio.
    target : torch.Tensor of shape (B,), optional
        Class explained and scored per clip; default the prediction (the paper's ``c``).
    curve_fills : sequence of {"floor", "road"}
        Deletion/insertion curves with these fills (``faithfulness``); empty skips them (the
        views' default: 77 more model evaluations per clip).
    timer : StageTimer, optional
        Accumulates seconds per stage (``attribute_<method>``, ``masks``, ...).

    Returns
    -------
    BatchExplanation
    """
    timer = timer or StageTimer()
    name = method_name or method.name
    names = mask_names_for(method, masks)
    # passes no larger than the allocator keeps in the heap (a cap that depends on the model
    # and the input shape only, never on the batch); thresholds raised to fit them
    example = batch.features[:1]
    batch_size = memory_batch_size(model, example, batch_size)
    method_rows = memory_batch_size(model, example, method.batch_size)
    tune_allocator(pass_working_set(model, example, max(batch_size, method_rows)))
    with timer(f"attribute_{name}"), _rows_per_pass(method, method_rows):
        explained = batch.prediction if target is None else target.to(batch.prediction)
        ex = attribute_clips(
            name,
            method,
            model,
            batch.features,
            explained,
            batch.ids,
            seed=seed,
            ground_truth=batch.ideal,
        )
    with timer("masks"):
        built = make_masks(ex.attributions, [n for n in names if n != NATIVE_MASK])
        if NATIVE_MASK in names:
            built[NATIVE_MASK] = ex.native_mask.float().clamp(0.0, 1.0)
        built = {n: built[n] for n in names}
    with timer("forward_masked"):
        masked, counts = evaluate_masks(
            model,
            batch.features,
            batch.probs,
            built,
            base=frontend.floor_db,
            batch_size=batch_size,
        )
    timer.count("masked_variants", counts["variants"])
    timer.count("masked_forwards", counts["evaluated"])
    sdr, sound = None, None
    want_sdr = batch.target is not None and resynth_route is not None
    if (want_sdr or audio) and resynth_route is not None:
        with timer("resynthesize"):
            sound = _resynthesize(batch, built, frontend, resynth_route, outside=audio)
        if want_sdr:
            from audiointerp import metrics

            with timer("ground_truth"):
                est = torch.stack([sound[m][0] for m in built])  # (M, B, N)
                sdr = np.asarray(metrics.si_sdr(to_numpy(est), to_numpy(batch.target)))
    curves = None
    if curve_fills:
        with timer("curves"):
            curves = curve_columns(
                model,
                batch,
                ex.attributions,
                explained,
                fills=curve_fills,
                base=frontend.floor_db,
                seeds=[clip_seed(seed, f"{name}/curves", i) for i in batch.ids],
                batch_size=batch_size,
            )
    with timer("metrics"):
        values = metric_rows(
            batch,
            built,
            masked,
            si_sdr=sdr,
            target=target,
            attributions=ex.attributions,
            curves=curves,
        )
        rows = pd.DataFrame(values)  # one frame: per-mask frames and a concat cost ~10x more
        for key, value in ex.info.items():
            rows[key] = value
    return BatchExplanation(
        method=name,
        attributions=ex.attributions,
        masks=built,
        masked=masked,
        rows=rows,
        regions=ex.regions,
        details=ex.details,
        info=dict(ex.info),
        audio=sound if audio else None,
    )


@contextmanager
def _rows_per_pass(method: AttributionMethod, rows: int) -> Iterator[None]:
    """``method.batch_size`` set to ``rows`` for the duration (restored after)."""
    kept = method.batch_size
    method.batch_size = rows
    try:
        yield
    finally:
        method.batch_size = kept


def _resynthesize(
    batch: PreparedBatch,
    masks: dict[str, torch.Tensor],
    frontend: Any,
    route: str,
    *,
    outside: bool,
) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """Masked-in (and with ``outside`` masked-out) audio of every mask, ``(B, N)`` each.

    Masks are resynthesized many per call (``Frontend.resynthesize_stack``): one call per
    mask costs about three times more, in per-call overhead, than the inversion.
    """
    n = len(batch.ids)
    names = list(masks)
    sides = [(m, False) for m in names] + ([(m, True) for m in names] if outside else [])
    stacked = [1.0 - masks[m] if inverse else masks[m] for m, inverse in sides]
    per_call = max(1, RESYNTH_CHUNK // n)
    waves: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(stacked), per_call):
            chunk = torch.stack(stacked[start : start + per_call])  # (k, B, 1, F, T)
            waves.extend(frontend.resynthesize_stack(batch.spec, chunk, route=route).unbind(0))
    out: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
    for i, m in enumerate(names):
        out[m] = (waves[i], waves[len(names) + i] if outside else None)
    return out


def masked_features(
    batch: PreparedBatch, masks: dict[str, torch.Tensor], base: float
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Masked-in and masked-out features of every mask (what the model saw), ``(B, 1, F, T)``."""
    return {
        m: (apply_mask(batch.features, M, base), apply_mask(batch.features, 1.0 - M, base))
        for m, M in masks.items()
    }


def grid_rectangle(attribution: np.ndarray, *, n_freq: int, n_time: int) -> Region:
    """The cell of an ``n_freq x n_time`` grid with the largest mean attribution.

    Parameters
    ----------
    attribution : np.ndarray (F, T)
    n_freq, n_time : int
        Grid size (the slice method's grid).

    Returns
    -------
    ((f0, f1), (t0, t1))
        Feature-index ranges, end-exclusive, for ``Frontend.rect_audio``.
    """
    from audiointerp.interpretation.segmentation import grid_edges

    f_edges = grid_edges(attribution.shape[0], n_freq, name="n_freq")
    t_edges = grid_edges(attribution.shape[1], n_time, name="n_time")
    means = np.add.reduceat(
        np.add.reduceat(attribution, f_edges[:-1], axis=0), t_edges[:-1], axis=1
    )
    means = means / np.outer(np.diff(f_edges), np.diff(t_edges))
    i, j = np.unravel_index(int(np.argmax(means)), means.shape)
    return (int(f_edges[i]), int(f_edges[i + 1])), (int(t_edges[j]), int(t_edges[j + 1]))


def regions(result: BatchExplanation, *, n_freq: int = 3, n_time: int = 3) -> list[Region]:
    """The most important rectangle per clip: the method's own (slice method), otherwise the
    ``n_freq x n_time`` grid cell with the largest mean attribution."""
    if result.regions is not None:
        return list(result.regions)
    maps = to_numpy(result.attributions[:, 0])
    return [grid_rectangle(a, n_freq=n_freq, n_time=n_time) for a in maps]
