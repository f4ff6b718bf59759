"""Segmentations of a spectrogram into regions, for LIME and the slice method.

A segmentation is an integer label map ``(B, F, T)`` with labels ``0 .. S_b - 1`` per clip.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice, check_tensor

SegmentationKind = Literal["quickshift", "slic", "felzenszwalb", "grid"]
SEGMENTATIONS: tuple[str, ...] = ("quickshift", "slic", "felzenszwalb", "grid")

# lime_image.LimeImageExplainer's default segmentation (quickshift with these values), which
# the reproduced paper used through the `lime` package as far as its description tells.
QUICKSHIFT_DEFAULTS: dict[str, Any] = {"kernel_size": 4, "max_dist": 200, "ratio": 0.2}
SLIC_DEFAULTS: dict[str, Any] = {"n_segments": 50, "compactness": 0.1}
FELZENSZWALB_DEFAULTS: dict[str, Any] = {"scale": 100.0, "sigma": 0.5, "min_size": 50}


def grid_edges(size: int, parts: int, *, name: str = "parts") -> np.ndarray:
    """Split ``range(size)`` into ``parts`` nearly equal consecutive ranges.

    Returns
    -------
    np.ndarray of int, shape (parts + 1,)
        Edges ``e``: range ``i`` is ``e[i] : e[i + 1]`` (end-exclusive).
    """
    if int(parts) != parts or not 1 <= parts <= size:
        raise ParameterError(f"{name} must be an integer in [1, {size}], got {parts!r}")
    return np.round(np.linspace(0, size, int(parts) + 1)).astype(np.int64)


def grid_segments(n_bins: int, n_frames: int, *, n_freq: int, n_time: int) -> torch.Tensor:
    """Label map of an ``n_freq x n_time`` grid: label ``i_f * n_time + i_t``.

    Returns
    -------
    torch.LongTensor, shape (n_bins, n_frames)
    """
    f_idx = np.repeat(np.arange(n_freq), np.diff(grid_edges(n_bins, n_freq, name="n_freq")))
    t_idx = np.repeat(np.arange(n_time), np.diff(grid_edges(n_frames, n_time, name="n_time")))
    return torch.from_numpy(f_idx[:, None] * n_time + t_idx[None, :])


def _image_segments(image: np.ndarray, kind: str, options: dict[str, Any]) -> np.ndarray:
    from skimage.color import gray2rgb
    from skimage.segmentation import felzenszwalb, quickshift, slic

    if kind == "quickshift":  # quickshift needs a colour image, as lime_image builds it
        return quickshift(gray2rgb(image), **{**QUICKSHIFT_DEFAULTS, "rng": 0, **options})
    if kind == "slic":
        return slic(image, **{**SLIC_DEFAULTS, "channel_axis": None, **options})
    return felzenszwalb(image, **{**FELZENSZWALB_DEFAULTS, **options})


def segment(
    features: torch.Tensor,
    *,
    kind: SegmentationKind = "quickshift",
    n_freq: int = 4,
    n_time: int = 8,
    **options: Any,
) -> torch.Tensor:
    """Segment each clip's spectrogram.

    Parameters
    ----------
    features : torch.Tensor, shape (B, 1, F, T)
        Log spectrograms; image segmentations see each clip min-max scaled to [0, 1].
    kind : {"quickshift", "slic", "felzenszwalb", "grid"}
        scikit-image segmentation of the spectrogram as an image, or a regular time x
        frequency grid.
    n_freq, n_time : int
        Grid size for ``kind="grid"``.
    **options
        Keyword arguments of the scikit-image function (override the defaults above).

    Returns
    -------
    torch.LongTensor, shape (B, F, T)
        Labels ``0 .. S_b - 1`` per clip, on the features' device.
    """
    check_tensor("features", features, shape=(None, 1, None, None))
    check_choice("kind", kind, SEGMENTATIONS)
    b, _, n_bins, n_frames = features.shape
    if kind == "grid":
        grid = grid_segments(n_bins, n_frames, n_freq=n_freq, n_time=n_time)
        return grid.to(features.device).expand(b, -1, -1).clone()
    x = features[:, 0].detach().cpu().double().numpy()
    labels = []
    for img in x:
        span = img.max() - img.min()
        scaled = (img - img.min()) / span if span > 0 else np.zeros_like(img)
        seg = _image_segments(scaled, kind, options)
        labels.append(np.unique(seg, return_inverse=True)[1].reshape(seg.shape))  # 0..S-1
    return torch.from_numpy(np.stack(labels).astype(np.int64)).to(features.device)
