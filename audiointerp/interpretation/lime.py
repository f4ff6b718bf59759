"""LIME over a segmentation of the spectrogram, with batched model evaluations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from audiointerp.interpretation.base import SILENCE_FLOOR_DB, AttributionMethod
from audiointerp.interpretation.perturbation import paint, perturbed_probs, segment_means
from audiointerp.interpretation.segmentation import SEGMENTATIONS, SegmentationKind, segment
from audiointerp.validation import check_choice, check_positive

LimeHide = Literal["floor", "segment_mean"]
#: What a removed segment is replaced with (``hide``, after ``lime_image``'s ``hide_color``): the
#: silence floor (``base``), or, as ``lime_image`` does by default (``hide_color=None``), the
#: segment's own mean value.
LIME_HIDES: tuple[str, ...] = ("floor", "segment_mean")

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext


def draw_samples(n_samples: int, n_segments: int, seed: int) -> torch.Tensor:
    """Uniform random keep-vectors, first row all ones (the clip itself), as ``lime_image`` does.

    Returns
    -------
    torch.Tensor, shape (n_samples, n_segments), float32 in {0, 1}
    """
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randint(0, 2, (n_samples, n_segments), generator=gen).float()
    z[0] = 1.0
    return z


def cosine_kernel(z: torch.Tensor, n_segments: torch.Tensor, kernel_width: float) -> torch.Tensor:
    """LIME's sample weights ``sqrt(exp(-d^2 / w^2))``, ``d`` the cosine distance to all-ones.

    Parameters
    ----------
    z : torch.Tensor, shape (B, K, S)
        Keep-vectors (zero-padded beyond each clip's own segment count).
    n_segments : torch.Tensor, shape (B,)
        Segment count per clip.
    kernel_width : float

    Returns
    -------
    torch.Tensor, shape (B, K)
    """
    # cos(z, 1) = sum(z) / (|z| |1|) = sqrt(sum(z) / S); an all-zero z has distance 1.
    dist = 1.0 - torch.sqrt(z.sum(-1) / n_segments[:, None].to(z.dtype))
    return torch.sqrt(torch.exp(-(dist**2) / kernel_width**2))


def weighted_ridge(
    z: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Coefficients of ``y ~ z @ coef + intercept`` minimising weighted squares + alpha |coef|^2.

    Same objective as ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)`` with
    ``sample_weight`` (intercept unpenalised), solved in closed form for all clips at once.

    Parameters
    ----------
    z : torch.Tensor, shape (B, K, S)
    y : torch.Tensor, shape (B, K)
    weights : torch.Tensor, shape (B, K)
    alpha : float

    Returns
    -------
    torch.Tensor, shape (B, S)
    """
    z, y, w = z.double(), y.double(), weights.double()
    w_sum = w.sum(-1, keepdim=True)
    zc = z - (w[..., None] * z).sum(1, keepdim=True) / w_sum[..., None]
    yc = y - (w * y).sum(-1, keepdim=True) / w_sum
    gram = zc.transpose(1, 2) @ (w[..., None] * zc)
    gram = gram + alpha * torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    rhs = zc.transpose(1, 2) @ (w * yc)[..., None]
    return torch.linalg.solve(gram, rhs)[..., 0].float()


class Lime(AttributionMethod):
    """Local linear surrogate of the target probability over spectrogram segments.

    Each of ``n_samples`` perturbations keeps every segment with probability 1/2 and replaces
    the rest (``hide``); a weighted ridge regression of the target probability on the
    keep-vectors gives one coefficient per segment, painted on its bins.

    Parameters
    ----------
    n_samples : int
        Perturbed inputs per clip, the original included (paper: 1000).
    segmentation : {"quickshift", "slic", "felzenszwalb", "grid"}
        How the spectrogram is split; "quickshift" with ``lime_image``'s defaults is what the
        paper's LIME used; "grid" is a regular ``n_freq x n_time`` grid.
    n_freq, n_time : int
        Grid size for ``segmentation="grid"``.
    segmentation_options : dict, optional
        Keyword arguments of the scikit-image segmentation.
    hide : {"floor", "segment_mean"}
        What replaces a removed segment (``lime_image``'s ``hide_color``): ``base`` (this
        project's default: removed = silent, as the masks remove bins), or each segment's own
        mean feature value (``lime_image``'s default ``hide_color=None``, what the reproduced
        study ran; the paper configs select it). The two give different maps: removing a
        segment to its mean keeps its level and erases only its detail.
    base : float
        The silence floor in dB (``hide="floor"``).
    kernel_width : float
        Width of LIME's exponential kernel on the cosine distance (``lime_image``: 0.25).
    alpha : float
        Ridge penalty (``lime``: 1.0).
    seed : int
        Seed of the perturbation draws; each clip gets the same draws whatever the batch.
    batch_size : int
        Perturbed inputs per forward pass, across clips.

    Notes
    -----
    Ribeiro, Singh & Guestrin, "Why should I trust you?", KDD 2016. Own vectorised sampler
    rather than captum's Lime: captum explains one example at a time with a per-sample Python
    loop, so forward passes cannot be shared across clips.
    """

    name = "lime"
    stochastic = True

    @classmethod
    def from_config(cls, options: Mapping[str, Any], context: MethodContext | None = None) -> Lime:
        """Removed bins go to the model's silence floor unless ``base`` is given."""
        options = dict(options)
        if context is not None:
            options.setdefault("base", context.floor_db)
        return cls(**options)

    def __init__(
        self,
        *,
        n_samples: int = 1000,
        segmentation: SegmentationKind = "quickshift",
        n_freq: int = 4,
        n_time: int = 8,
        segmentation_options: dict[str, Any] | None = None,
        hide: LimeHide = "floor",
        base: float = SILENCE_FLOOR_DB,
        kernel_width: float = 0.25,
        alpha: float = 1.0,
        seed: int = 0,
        batch_size: int = 16,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.n_samples = int(check_positive("n_samples", n_samples))
        self.segmentation = check_choice("segmentation", segmentation, SEGMENTATIONS)
        self.n_freq, self.n_time = int(n_freq), int(n_time)
        self.segmentation_options = dict(segmentation_options or {})
        self.hide = check_choice("hide", hide, LIME_HIDES)
        self.base = float(base)
        self.kernel_width = float(check_positive("kernel_width", kernel_width))
        self.alpha = float(check_positive("alpha", alpha))
        self.seed = int(seed)

    def resolution(self, model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int] | None:
        """The segment grid for ``segmentation="grid"``; ``None`` (adaptive) for image
        segmentations, whose segments follow each clip's content."""
        if self.segmentation == "grid":
            return min(self.n_freq, int(n_bins)), min(self.n_time, int(n_frames))
        return None

    def segments(self, features: torch.Tensor) -> torch.Tensor:
        """The segmentation this method uses, ``(B, F, T)`` labels."""
        return segment(
            features,
            kind=self.segmentation,
            n_freq=self.n_freq,
            n_time=self.n_time,
            **self.segmentation_options,
        )

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        segments = self.segments(features)
        n_seg = segments.flatten(1).max(dim=1).values + 1  # (B,)
        s_max = int(n_seg.max())
        z = torch.zeros(features.shape[0], self.n_samples, s_max, device=features.device)
        for b, s in enumerate(n_seg.tolist()):  # zero padding: padded columns get coef 0
            z[b, :, :s] = draw_samples(self.n_samples, s, self.seed).to(features.device)
        fill = self.base if self.hide == "floor" else segment_means(features, segments, s_max)
        y = perturbed_probs(
            model, features, segments, z, target, fill=fill, batch_size=self.batch_size
        )
        weights = cosine_kernel(z, n_seg, self.kernel_width)
        coef = weighted_ridge(z, y, weights, self.alpha)
        return paint(coef, segments)
