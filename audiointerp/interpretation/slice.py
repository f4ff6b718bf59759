"""The "most important time-frequency slice": occlusion of one grid rectangle at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import AttributionMethod, Explanation, forward_batched
from audiointerp.interpretation.perturbation import paint, perturbed_probs
from audiointerp.interpretation.segmentation import grid_edges, grid_segments

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext

#: Named fill values of occluded rectangles (besides a number in dB).
FILLS: tuple[str, ...] = ("train_mean", "floor", "clip_mean")


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
        Value of occluded bins in dB. :meth:`from_config` resolves the named choices: the
        mean training feature value (``"train_mean"``, the default and the paper's choice),
        the silence floor (``"floor"``) or each clip's own mean (``"clip_mean"``, also the
        fallback when no training data is given). ``None`` here means the clip's own mean.
    batch_size : int
        Occluded inputs per forward pass (one clip's ``n_freq * n_time`` variants).

    Notes
    -----
    Costs ``n_freq * n_time + 1`` model evaluations per clip. The rectangle whose occlusion
    lowers the predicted class probability most is the "most important slice";
    :meth:`explain` returns it in ``regions`` and the drops in ``details["drops"]``
    ``(B, n_freq, n_time)``, row 0 the lowest frequencies.
    """

    name = "slice"
    explains_region = True
    needs_training_data = True

    def __init__(
        self, *, n_time: int = 3, n_freq: int = 3, fill: float | None = None, batch_size: int = 16
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.n_time, self.n_freq = int(n_time), int(n_freq)
        self.fill = None if fill is None else float(fill)

    @classmethod
    def from_config(cls, options: Mapping[str, Any], context: MethodContext | None = None) -> Slice:
        """Resolve ``fill`` (``"train_mean"`` by default, see the class) through ``context``."""
        options = dict(options)
        fill = options.pop("fill", "train_mean")
        if isinstance(fill, str):
            if fill not in FILLS:
                raise ParameterError(
                    f"slice fill={fill!r} is not valid; choose one of {list(FILLS)} or a number (dB)"
                )
            if fill == "train_mean" and (context is None or not context.has_training_data):
                if context is not None:
                    context.note("slice fill: each clip's own mean (no training data given)")
                fill = "clip_mean"
            if fill == "train_mean":
                fill = context.feature_mean()
            elif fill == "floor":
                fill = context.floor_db if context is not None else -100.0
            else:
                fill = None
        return cls(fill=fill, **options)

    def resolution(self, model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int]:
        """The occlusion grid: one value per rectangle."""
        return self.n_freq, self.n_time

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
        *,
        ground_truth: torch.Tensor | None = None,
    ) -> Explanation:
        """Occlude every rectangle; return the painted drops, the best rectangle and the drops.

        Parameters
        ----------
        model : nn.Module
            Classifier in eval mode.
        features : torch.Tensor, shape (B, 1, F, T)
        target : torch.Tensor of shape (B,), int or None
            Class to explain; ``None`` = predicted class.

        Returns
        -------
        Explanation
            ``regions[b] = ((f0, f1), (t0, t1))``, feature-index ranges (end-exclusive) that
            feed ``Frontend.rect_audio(spec, freq_bins=(f0, f1), frames=(t0, t1))``.
        """
        features, target = self._prepare(model, features, target)
        b, _, n_bins, n_frames = features.shape
        f_edges = grid_edges(n_bins, self.n_freq, name="n_freq")
        t_edges = grid_edges(n_frames, self.n_time, name="n_time")
        probs = forward_batched(model, features, self.batch_size)
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
        regions = [
            (
                (int(f_edges[i // self.n_time]), int(f_edges[i // self.n_time + 1])),
                (int(t_edges[i % self.n_time]), int(t_edges[i % self.n_time + 1])),
            )
            for i in best
        ]
        return Explanation(
            attributions=paint(drops, segments).float(),
            regions=regions,
            details={"drops": drops.reshape(b, self.n_freq, self.n_time).float()},
        )
