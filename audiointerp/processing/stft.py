"""Batched STFT / ISTFT and decibel conversion in torch, with librosa's conventions.

Pure functions on ``(B, N)`` waveforms and ``(B, K, T)`` spectrograms; the frontend calls
them with its cached window. ``center`` and ``pad_mode`` are always passed explicitly, since
torch and librosa differ in their defaults (librosa >= 0.10 pads with zeros, torch reflects).
"""

from __future__ import annotations

import math

import torch

__all__ = ["stft", "istft", "power_to_db", "db_to_power", "n_frames"]


def n_frames(length: int, *, hop_length: int, n_fft: int, center: bool) -> int:
    """Number of STFT frames for a signal of ``length`` samples."""
    if center:
        return 1 + length // hop_length
    return 1 + (length - n_fft) // hop_length


def stft(
    y: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    window: torch.Tensor,
    center: bool,
    pad_mode: str,
) -> torch.Tensor:
    """Complex STFT of a batch of waveforms.

    Parameters
    ----------
    y : torch.Tensor (B, N) float
        Waveforms.
    window : torch.Tensor (win_length,)
        Analysis window, on ``y``'s device and dtype.

    Returns
    -------
    torch.Tensor (B, 1 + n_fft // 2, T) complex
    """
    return torch.stft(
        y,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode=pad_mode,
        normalized=False,
        onesided=True,
        return_complex=True,
    )


def istft(
    D: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    window: torch.Tensor,
    center: bool,
    length: int,
) -> torch.Tensor:
    """Inverse STFT (weighted overlap-add), the exact inverse of :func:`stft`.

    Parameters
    ----------
    D : torch.Tensor (B, K, T) complex
    length : int
        Output length in samples.

    Returns
    -------
    torch.Tensor (B, length) real

    Notes
    -----
    Frames that overlap at most pairwise (``hop_length >= n_fft / 2`` dividing ``n_fft``, the
    project's 512 / 256 setting) are overlap-added here: the same operations as
    ``torch.istft`` (inverse FFT, window, sum of two frames, division by the summed squared
    window), the same bits (``tests/test_processing_frontend.py``), in 60 % of the time, which
    is mostly its generic overlap-add. Other settings call ``torch.istft``.
    """
    overlap = n_fft // hop_length if n_fft % hop_length == 0 else 0
    if overlap in (1, 2) and window.numel() == n_fft and D.ndim == 3 and D.shape[-1] > 0:
        y = _overlap_add(D, n_fft=n_fft, hop_length=hop_length, window=window, center=center,
                         length=length)  # fmt: skip
        if y is not None:
            return y
    return torch.istft(
        D,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        normalized=False,
        onesided=True,
        length=length,
    )


def _overlap_add(
    D: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    center: bool,
    length: int,
) -> torch.Tensor | None:
    """:func:`istft` for frames that overlap at most pairwise; None where the summed window
    vanishes (``torch.istft`` then raises its own error)."""
    b, _, t = D.shape
    frames = torch.fft.irfft(D.transpose(1, 2), n=n_fft) * window  # (B, T, n_fft)
    full = n_fft + hop_length * (t - 1)
    y = frames.new_zeros(b, full)
    envelope = frames.new_zeros(full)
    squared = (window * window).expand(t, n_fft)
    for j in range(n_fft // hop_length):  # each frame's j-th hop-long part, all frames at once
        part = slice(j * hop_length, (j + 1) * hop_length)
        at = slice(j * hop_length, j * hop_length + t * hop_length)
        y[:, at].view(b, t, hop_length).add_(frames[:, :, part])
        envelope[at].view(t, hop_length).add_(squared[:, part])
    start = n_fft // 2 if center else 0
    y, envelope = y[:, start : start + length], envelope[start : start + length]
    if envelope.numel() and float(envelope.abs().min()) < 1e-11:
        return None
    y = y / envelope
    if y.shape[1] < length:  # as torch.istft: zeros past the last frame
        y = torch.nn.functional.pad(y, (0, length - y.shape[1]))
    return y


def power_to_db(
    S: torch.Tensor, *, power: float, amin: float, ref: float, top_db: float | None
) -> torch.Tensor:
    """Decibels of a spectrogram ``S = |X| ** power``, as librosa computes them.

    ``power=2`` is :func:`librosa.power_to_db` (``10 log10``), ``power=1`` is
    :func:`librosa.amplitude_to_db` (``20 log10``); in general the factor is ``20 / power``,
    so the dB value of a bin does not depend on ``power``. ``amin`` and ``ref`` are in the
    units of ``S``. ``top_db`` clips each clip (first axis) to ``max - top_db``.
    """
    scale = 20.0 / power
    db = scale * torch.log10(torch.clamp(S, min=amin))
    if ref != 1.0:
        db = db - scale * math.log10(max(amin, ref))
    if top_db is not None:
        peak = db.amax(dim=tuple(range(1, db.ndim)), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def db_to_power(db: torch.Tensor, *, power: float, ref: float) -> torch.Tensor:
    """Inverse of :func:`power_to_db` (without the clipping): ``ref * 10 ** (db * power / 20)``."""
    return ref * torch.pow(10.0, db * (power / 20.0))
