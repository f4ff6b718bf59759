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
    """
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
