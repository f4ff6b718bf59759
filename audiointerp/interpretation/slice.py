"""The "most important time-frequency slice": occlusion of one grid rectangle at a time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import (
    AttributionMethod,
    check_features,
    forward_batched,
    resolve_target,
)
from audiointerp.interpretation.perturbation import paint, perturbed_probs
from audiointerp.interpretation.segmentation import grid_edges, grid_segments


@dataclass(frozen=True)
class SliceResult:
    """Output of :meth:`Slice.explain`.

    Attributes
    ----------
    attributions : torch.Tensor, shape (B, 1, F, T)
        Each rectangle painted with its probability drop.
    drops : torch.Tensor, shape (B, n_freq, n_time)
        ``p[c] - p_occluded[c]`` per rectangle (row 0 = lowest frequencies).
    target : torch.LongTensor, shape (B,)
        The explained class per clip.
    freq_bins : list of (int, int)
        Per clip, the most important rectangle's feature-bin range ``(f0, f1)``, end-exclusive.
    frames : list of (int, int)
        Per clip, its frame range ``(t0, t1)``, end-exclusive; with ``freq_bins`` this feeds
        ``Frontend.rect_audio(spec, freq_bins=..., frames=...)``.
    """

    attributions: torch.Tensor
    drops: torch.Tensor
    target: torch.Tensor
    freq_bins: list[tuple[int, int]]
    frames: list[tuple[int, int]]


def feature_mean(batches: torch.Tensor | Iterable[torch.Tensor]) -> float:
    """Mean feature value over a tensor or an iterable of feature batches (the default fill).

    Parameters
    ----------
    batches : torch.Tensor or iterable of torch.Tensor
        Training-set features, e.g. ``(frontend.features(w) for w in wave_batches)``.

    Returns
    -------
    float
    """
    if isinstance(batches, torch.Tensor):
        batches = [batches]
    total, count = 0.0, 0
    for x in batches:
        total += float(x.detach().double().sum())
        count += x.numel()
    if count == 0:
        raise ParameterError("feature_mean needs at least one non-empty batch of features")
    return total / count


class Slice(AttributionMethod):
    """Occlude each rectangle of an ``n_freq x n_time`` grid with ``fill``; map = probability drop.

    Parameters
    ----------
    n_time, n_freq : int
        Grid size (default 3 x 3, as in the brute-force slice search).
    fill : float, optional
        Value of occluded bins: the mean feature value over the training set
        (:func:`feature_mean`). ``None`` uses each clip's own mean, a stand-in when the training
        set is not at hand.
    batch_size : int
        Occluded inputs per forward pass (variants of several clips share a pass).

    Notes
    -----
    Costs ``n_freq * n_time + 1`` model evaluations per clip. The rectangle whose occlusion
    lowers the predicted class probability most is the "most important slice".
    """

    name = "slice"

    def __init__(
        self, *, n_time: int = 3, n_freq: int = 3, fill: float | None = None, batch_size: int = 16
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.n_time, self.n_freq = int(n_time), int(n_freq)
        self.fill = None if fill is None else float(fill)

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
    ) -> SliceResult:
        """Occlude every rectangle and return the drops, the map and the best rectangle.

        Parameters
        ----------
        model : nn.Module
            Classifier in eval mode.
        features : torch.Tensor, shape (B, 1, F, T)
        target : torch.Tensor of shape (B,), int or None
            Class to explain; ``None`` = predicted class.

        Returns
        -------
        SliceResult
        """
        features = check_features(features).detach()
        if model.training:
            raise ParameterError("model is in training mode; call model.eval() before attributing")
        b, _, n_bins, n_frames = features.shape
        f_edges = grid_edges(n_bins, self.n_freq, name="n_freq")
        t_edges = grid_edges(n_frames, self.n_time, name="n_time")
        probs = forward_batched(model, features, self.batch_size)
        target = probs.argmax(-1) if target is None else resolve_target(model, features, target)
        n_rect = self.n_freq * self.n_time
        segments = grid_segments(n_bins, n_frames, n_freq=self.n_freq, n_time=self.n_time)
        segments = segments.to(features.device).expand(b, -1, -1)
        keep = 1 - torch.eye(n_rect, device=features.device).expand(b, -1, -1)
        fill = features.mean(dim=(1, 2, 3)) if self.fill is None else self.fill
        occluded = perturbed_probs(
            model, features, segments, keep, target, fill=fill, batch_size=self.batch_size
        )
        drops = probs.gather(1, target[:, None]) - occluded  # (B, n_rect)
        best = drops.argmax(dim=1).tolist()
        return SliceResult(
            attributions=paint(drops, segments).float(),
            drops=drops.reshape(b, self.n_freq, self.n_time).float(),
            target=target,
            freq_bins=[
                (int(f_edges[i // self.n_time]), int(f_edges[i // self.n_time + 1])) for i in best
            ],
            frames=[
                (int(t_edges[i % self.n_time]), int(t_edges[i % self.n_time + 1])) for i in best
            ],
        )

    def attribute(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Probability drop of each rectangle painted on its bins, ``(B, 1, F, T)`` float32."""
        return self.explain(model, features, target).attributions
