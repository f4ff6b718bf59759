"""Batched evaluation of segment-wise perturbations, shared by LIME and the slice method.

A perturbation of clip ``b`` is a keep-vector ``z`` over its segments: segment ``s`` keeps its
features where ``z[s] = 1`` and is replaced by ``fill`` where ``z[s] = 0`` (one fill value, one
per clip, or one per segment such as the segment's own mean). Perturbed inputs of
all clips are built chunk by chunk (never all at once: 16 clips x 1000 samples of a 64 x 313
spectrogram would be 1.3 GB) and go through the model ``batch_size`` at a time.
"""

from __future__ import annotations

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import iter_chunks


@torch.inference_mode()
def perturbed_probs(
    model: nn.Module,
    features: torch.Tensor,
    segments: torch.Tensor,
    keep: torch.Tensor,
    target: torch.Tensor,
    *,
    fill: float | torch.Tensor,
    batch_size: int,
) -> torch.Tensor:
    """Target-class probability of every perturbed input.

    Parameters
    ----------
    model : nn.Module
        Classifier, features -> logits.
    features : torch.Tensor, shape (B, 1, F, T)
        Clips.
    segments : torch.LongTensor, shape (B, F, T)
        Segment label of each bin, ``0 .. S - 1``.
    keep : torch.Tensor, shape (B, K, S)
        1 keeps a segment, 0 replaces it with ``fill`` (fractions interpolate).
    target : torch.LongTensor, shape (B,)
        Class whose probability is returned.
    fill : float or torch.Tensor of shape (B,) or (B, S)
        Value of removed bins: one for all, one per clip, or one per segment of each clip
        (``lime_image``'s default fill is each segment's own mean, :func:`segment_means`).
    batch_size : int
        Perturbed inputs per forward pass; chunks run across clip boundaries.

    Returns
    -------
    torch.Tensor, shape (B, K), float32
    """
    b, k, n_seg = keep.shape
    shape = (-1, 1, *features.shape[2:])
    flat_seg = segments.reshape(b, -1)
    fill = torch.as_tensor(fill, dtype=features.dtype, device=features.device)
    if fill.ndim == 2:  # one value per segment, painted on its bins
        if fill.shape != (b, n_seg):
            raise ParameterError(
                f"fill has shape {tuple(fill.shape)}; per-segment fills need ({b}, {n_seg})"
            )
        fill = torch.gather(fill, 1, flat_seg)  # (B, F * T)
    else:
        fill = fill.expand(b)[:, None].expand(b, flat_seg.shape[1])
    centered = features.reshape(b, -1) - fill  # x = fill + (X - fill) * mask
    keep = keep.to(features.dtype)
    out = torch.empty(b * k, dtype=torch.float32, device=features.device)
    for s in iter_chunks(b * k, batch_size):
        first, last = s.start // k, (s.stop - 1) // k
        if first == last:  # chunk inside one clip (LIME): broadcast, no copies of the clip
            n = s.stop - s.start
            rows = keep[first, s.start - first * k : s.stop - first * k]
            mask = torch.gather(rows, 1, flat_seg[first].expand(n, -1))
            x = torch.addcmul(fill[first], centered[first].expand(n, -1), mask)
            cls = target[first].expand(n)
        else:  # chunk across clips (slice method, few variants per clip)
            idx = torch.arange(s.start, s.stop, device=features.device)
            clip, sample = idx // k, idx % k
            mask = torch.gather(keep[clip, sample], 1, flat_seg[clip])
            x = torch.addcmul(fill[clip], centered[clip], mask)
            cls = target[clip]
        probs = model(x.reshape(shape)).float().softmax(dim=-1)
        out[s] = probs.gather(1, cls[:, None])[:, 0]
    return out.reshape(b, k)


def segment_means(features: torch.Tensor, segments: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Mean feature value of every segment of every clip.

    Parameters
    ----------
    features : torch.Tensor, shape (B, 1, F, T)
    segments : torch.LongTensor, shape (B, F, T)
        Labels ``0 .. S_b - 1``.
    n_segments : int
        ``S``, the largest segment count (labels a clip lacks get mean 0; never painted).

    Returns
    -------
    torch.Tensor, shape (B, S)
    """
    b = features.shape[0]
    flat = features.reshape(b, -1)
    idx = segments.reshape(b, -1)
    sums = torch.zeros(b, n_segments, dtype=flat.dtype, device=flat.device)
    counts = torch.zeros_like(sums)
    sums.scatter_add_(1, idx, flat)
    counts.scatter_add_(1, idx, torch.ones_like(flat))
    return sums / counts.clamp_min(1.0)


def paint(values: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Paint one value per segment onto its bins.

    Parameters
    ----------
    values : torch.Tensor, shape (B, S)
    segments : torch.LongTensor, shape (B, F, T)

    Returns
    -------
    torch.Tensor, shape (B, 1, F, T)
    """
    b = segments.shape[0]
    return torch.gather(values, 1, segments.reshape(b, -1)).reshape(b, 1, *segments.shape[1:])
