"""Mel filterbank, its map from mel-band masks to linear STFT bins, and its approximate inverse.

Convention: the filterbank is :func:`librosa.filters.mel`, by default on the Slaney mel scale
(linear below 1 kHz, logarithmic above) with Slaney area normalisation (each triangle has
unit area in Hz, so band values are band densities); ``htk=True`` selects the HTK scale
(``2595 log10(1 + f / 700)``) and ``norm=None`` leaves the triangles with unit peak.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

__all__ = [
    "mel_filterbank",
    "band_centers_hz",
    "band_edges_hz",
    "mask_map",
    "pseudo_inverse",
    "nnls",
]


def mel_filterbank(
    *, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: str | None
) -> np.ndarray:
    """Mel filterbank weights.

    Returns
    -------
    np.ndarray (n_mels, 1 + n_fft // 2) float64
    """
    return librosa.filters.mel(
        sr=sr,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=norm,
        dtype=np.float64,
    )


def band_centers_hz(*, n_mels: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    """Centre frequency of each mel band (the peak of its triangle), shape ``(n_mels,)``."""
    return librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)[1:-1]


def band_edges_hz(*, sr: int, n_mels: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    """Boundaries that split the spectrum into ``n_mels`` contiguous bands, shape ``(n_mels + 1,)``.

    Inner boundaries are midway (in Hz) between adjacent band centres; the outer ones are
    0 Hz and Nyquist, so the lowest and highest band own everything below and above them:
    the same rule :func:`mask_map` uses for bins no triangle covers.
    """
    c = band_centers_hz(n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
    return np.concatenate([[0.0], 0.5 * (c[1:] + c[:-1]), [sr / 2.0]])


def mask_map(
    fb: np.ndarray, *, sr: int, n_fft: int, fmin: float, fmax: float, htk: bool
) -> np.ndarray:
    """Matrix carrying a mel-band mask to linear STFT bins.

    A linear bin takes the average of the mask values of the bands whose triangles cover it,
    weighted by the filterbank weights. Bins that no triangle covers (below ``fmin``, above
    ``fmax``, or between very narrow low bands) follow the band whose centre is nearest. Each
    row is non-negative and sums to one, so the map is linear, sends an all-ones mask to all
    ones, all zeros to all zeros, and ``1 - M`` to ``1 - map(M)``: masked-in and masked-out
    audio add up to the input.

    Parameters
    ----------
    fb : np.ndarray (n_mels, K)
        Filterbank weights from :func:`mel_filterbank`.

    Returns
    -------
    np.ndarray (K, n_mels) float64
    """
    n_mels, n_bins = fb.shape
    weights = fb.T.copy()  # (K, n_mels)
    total = weights.sum(axis=1)
    uncovered = total <= 0
    if uncovered.any():
        centers = band_centers_hz(n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
        freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)[uncovered]
        nearest = np.abs(freqs[:, None] - centers[None, :]).argmin(axis=1)
        weights[uncovered] = 0.0
        weights[np.flatnonzero(uncovered), nearest] = 1.0
        total = weights.sum(axis=1)
    return weights / total[:, None]


def pseudo_inverse(A: np.ndarray, *, rcond: float = 1e-10) -> tuple[np.ndarray, float]:
    """Moore-Penrose pseudo-inverse of a wide matrix and its squared spectral norm.

    Through the eigendecomposition of the small Gram matrix ``A A^T`` rather than an SVD of
    ``A``: same result for ``A`` of shape ``(n_mels, K)`` with ``n_mels < K``, and threaded
    LAPACK SVDs stall for seconds on a busy machine while this takes microseconds.

    Returns
    -------
    pinv : np.ndarray (K, M)
    lipschitz : float
        ``||A||_2 ** 2``, the Lipschitz constant of the least-squares gradient.
    """
    # torch rather than numpy: numpy's threaded OpenBLAS stalls on a busy machine.
    At = torch.as_tensor(A, dtype=torch.float64).T
    w, V = torch.linalg.eigh(At.T @ At)
    keep = w > rcond * w.max()
    inv = (V[:, keep] / w[keep]) @ V[:, keep].T
    return (At @ inv).numpy(), float(w.max())


def nnls(
    A: torch.Tensor,
    B: torch.Tensor,
    *,
    n_iter: int = 30,
    pinv: torch.Tensor | None = None,
    lipschitz: float | None = None,
) -> torch.Tensor:
    """Batched non-negative least squares ``min ||A X - B||_F`` subject to ``X >= 0``.

    Accelerated projected gradient (FISTA, Beck & Teboulle 2009) from the clipped
    pseudo-inverse solution, the same start as :func:`librosa.util.nnls`; written in torch
    because librosa's per-clip L-BFGS-B is orders of magnitude slower on a batch.

    Parameters
    ----------
    A : torch.Tensor (M, K)
    B : torch.Tensor (..., M, T)
    n_iter : int
        Gradient steps; 0 returns the clipped pseudo-inverse solution.
    pinv, lipschitz : torch.Tensor (K, M), float, optional
        From :func:`pseudo_inverse`; computed if not given.

    Returns
    -------
    torch.Tensor (..., K, T), non-negative
    """
    if pinv is None or lipschitz is None:
        p, lipschitz = pseudo_inverse(A.detach().cpu().double().numpy())
        pinv = torch.as_tensor(p, dtype=A.dtype, device=A.device)
    X = torch.clamp(pinv @ B, min=0.0)
    if n_iter <= 0:
        return X
    At = A.transpose(0, 1)
    Y, X_prev, t = X, X, 1.0
    step = 1.0 / lipschitz
    for _ in range(n_iter):
        # X = max(0, Y - step * A^T (A Y - B)), with in-place steps to spare temporaries.
        X = torch.matmul(At, (A @ Y).sub_(B)).mul_(-step).add_(Y).clamp_(min=0.0)
        t_next = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        Y = torch.lerp(X_prev, X, 1.0 + (t - 1.0) / t_next)  # X + beta (X - X_prev)
        X_prev, t = X, t_next
    return X
