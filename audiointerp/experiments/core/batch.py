"""One batch of clips ready to be explained: analysed, predicted, with its ground truth.

A :class:`PreparedBatch` holds what every method of a batch shares (the spectrogram, the
prediction, the ideal mask and the clean target stem when the data has stems), computed once
per (model, condition, batch). Every model evaluation in the core runs clip by clip, so a
clip's numbers depend on the clip, its options and its seed, never on the batch it came in
(the grid, ``interpret``, the illustration and the explorer agree bit for bit on CPU).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Detach a tensor to a NumPy array (arrays pass through)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@torch.inference_mode()
def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Softmax probabilities of ``x`` ``(N, 1, F, T)`` in chunks of ``batch_size``; ``(N, C)``."""
    outs = [model(x[i : i + batch_size]).float() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(outs).softmax(dim=-1)


@dataclass
class StageTimer:
    """Accumulated wall-clock seconds and call counts per named stage."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
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
    labels: np.ndarray  # (B,) in the model's class indices, -1 where the model lacks the class
    categories: list[str]
    spec: object  # processing Spectrogram
    features: torch.Tensor  # (B, 1, F, T)
    probs: torch.Tensor  # (B, C)
    prediction: torch.Tensor  # (B,)
    waves: torch.Tensor  # (B, N) the model's input audio
    target: torch.Tensor | None = None  # (B, N) clean target stem under the condition
    ideal: torch.Tensor | None = None  # (B, 1, F, T) ground-truth mask
    si_sdr_mix: np.ndarray | None = None  # (B,) SI-SDR of the input vs the target stem


def prepare_batch(
    model: nn.Module,
    frontend: object,
    waves: np.ndarray,
    *,
    ids: list[str],
    labels: np.ndarray,
    categories: list[str],
    target: np.ndarray | None = None,
    background: np.ndarray | None = None,
    device: torch.device | str | None = None,
    timer: StageTimer | None = None,
) -> PreparedBatch:
    """Analyze, predict (clip by clip) and, with stems, build the ideal mask of a batch.

    Parameters
    ----------
    model : nn.Module
        Classifier in eval mode.
    frontend : Frontend
        Its frontend.
    waves : np.ndarray (B, N) float32
        The model's input audio (already under its condition).
    ids, labels, categories
        Clip ids, labels in the model's class indices (-1: a class the model does not know)
        and category names.
    target, background : np.ndarray (B, N), optional
        Stems under the condition (``waves == target + background``): ground-truth metrics.
    device : torch.device, optional
        Default: the model's.
    timer : StageTimer, optional

    Returns
    -------
    PreparedBatch
    """
    from audiointerp import metrics

    timer = timer or StageTimer()
    if device is None:
        device = next(model.parameters()).device
    with timer("analyze"):
        wave_t = torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32)).to(device)
        with torch.inference_mode():
            spec = frontend.analyze(wave_t)
        features = spec.features.clone()
    with timer("predict"):  # one clip per pass: a clip's p never depends on its batch
        probs = predict_probs(model, features, 1)
    out = PreparedBatch(
        ids=ids,
        labels=np.asarray(labels, dtype=np.int64),
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
