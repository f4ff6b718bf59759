"""Mixtures: at a target SNR, the paper's alpha mixing, and interference with another class.

All functions take waveforms ``(N,)`` or batches ``(B, N)`` (a single ``(N,)`` noise is
shared by a batch); a noise of another length is looped or cropped to fit. Powers and RMS
are per row over the whole clip.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from audiointerp.data.io import fix_length, load_audio, peak_normalize
from audiointerp.data.noises import NOISE_NAMES, make_noise
from audiointerp.errors import AudioFileError, ParameterError
from audiointerp.validation import check_positive

log = logging.getLogger(__name__)

DEFAULT_NOISES_DIR = Path("noises")

__all__ = [
    "NOISE_NAMES",
    "fit_noise",
    "interference_mix",
    "load_noise",
    "mix_at_snr",
    "paper_mix",
    "rms",
]


def rms(y: np.ndarray) -> np.ndarray:
    """Root mean square over the last axis: ``(N,) -> ()``, ``(B, N) -> (B,)``."""
    return np.sqrt(np.mean(np.square(y, dtype=np.float64), axis=-1))


def fit_noise(noise: np.ndarray, n: int, *, offset: int = 0) -> np.ndarray:
    """Loop (tile) or crop ``noise`` along its last axis to ``n`` samples from ``offset``."""
    m = noise.shape[-1]
    if m == 0:
        raise ParameterError("noise has no samples")
    reps = -(-(offset % m + n) // m)
    tiled = np.concatenate([noise] * reps, axis=-1) if reps > 1 else noise
    return tiled[..., offset % m : offset % m + n]


def _pair(clip: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clip, noise = np.asarray(clip), np.asarray(noise)
    if clip.ndim not in (1, 2) or noise.ndim not in (1, 2):
        raise ParameterError(
            f"clip and noise must be (N,) or (B, N), got {clip.shape} and {noise.shape}"
        )
    if not (np.isfinite(clip).all() and np.isfinite(noise).all()):
        raise ParameterError("clip or noise contains NaN or Inf")
    return clip, fit_noise(noise, clip.shape[-1])


def mix_at_snr(
    clip: np.ndarray, noise: np.ndarray, snr_db: float, *, normalize: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``noise`` scaled so that ``10 log10(P_clip / P_noise) == snr_db``.

    Parameters
    ----------
    clip : np.ndarray, shape (N,) or (B, N)
    noise : np.ndarray, shape (M,) or (B, M)
        Looped or cropped to N.
    snr_db : float
        Signal-to-noise ratio over the whole clip, dB.
    normalize : bool
        Peak-normalize each mixture; the returned noise gets the same gain, so that
        ``mix - scaled_noise`` is the (scaled) clip.

    Returns
    -------
    mix : np.ndarray, float32, clip's shape
    scaled_noise : np.ndarray, float32, clip's shape

    Raises
    ------
    ParameterError
        A silent clip or noise (the SNR is undefined), or non-finite values.
    """
    clip, noise = _pair(clip, noise)
    if not np.isfinite(snr_db):
        raise ParameterError(f"snr_db must be finite, got {snr_db!r}")
    p_clip, p_noise = rms(clip), rms(noise)
    if np.any(p_clip == 0) or np.any(p_noise == 0):
        raise ParameterError("mix_at_snr: the clip or the noise is silent; the SNR is undefined")
    scale = p_clip / p_noise * 10 ** (-snr_db / 20)
    scaled = noise * np.asarray(scale)[..., None] if clip.ndim == 2 else noise * scale
    mix = clip + scaled
    if normalize:
        rows = mix.reshape(-1, mix.shape[-1])
        gains = np.array([peak_normalize(r)[1] for r in rows]).reshape(mix.shape[:-1] + (1,))
        mix, scaled = mix * gains, scaled * gains
    return mix.astype(np.float32), scaled.astype(np.float32)


def paper_mix(clip: np.ndarray, noise: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """The study's mixing: RMS-normalize both, ``alpha * clip + (1 - alpha) * noise``, peak-normalize.

    Equivalent to an SNR of ``20 log10(alpha / (1 - alpha))`` (3.5 dB for alpha = 0.6).
    A silent clip or noise contributes silence (no division by zero).

    Returns
    -------
    np.ndarray, float32, clip's shape
    """
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"alpha must lie in [0, 1], got {alpha!r}")
    clip, noise = _pair(clip, noise)

    def unit(y: np.ndarray) -> np.ndarray:
        r = rms(y)[..., None] if y.ndim == 2 else rms(y)
        return y / np.where(r > 0, r, 1.0)

    mix = alpha * unit(clip) + (1 - alpha) * unit(noise)
    rows = [peak_normalize(r)[0] for r in mix.reshape(-1, mix.shape[-1])]
    return np.stack(rows).reshape(mix.shape).astype(np.float32)


def interference_mix(
    target: np.ndarray,
    background: np.ndarray,
    interferer: np.ndarray,
    snr_db: float,
    *,
    normalize: bool = True,
) -> dict[str, np.ndarray]:
    """Add another class's event to a clip, at ``snr_db`` relative to the clip's target.

    The stems stay valid: the interferer joins the background, so
    ``mixture == target + background`` still holds, and ``interferer`` is kept separately.

    Parameters
    ----------
    target, background : np.ndarray, shape (N,)
        The clip's stems (for a clip without stems, pass it as target and zeros).
    interferer : np.ndarray, shape (M,)
        The other event (e.g. another clip's target stem); looped or cropped to N.
    snr_db : float
        ``10 log10(P_target / P_interferer)`` over the clip, dB.
    normalize : bool
        Peak-normalize the mixture and give every stem the same gain.

    Returns
    -------
    dict with ``mixture``, ``target``, ``background``, ``interferer`` (float32, (N,))
    """
    target = np.asarray(target, dtype=np.float64)
    if np.shape(background) != target.shape:
        raise ParameterError(f"background shape {np.shape(background)} != target {target.shape}")
    _, scaled = mix_at_snr(target, interferer, snr_db)
    out = {"target": target, "background": background + scaled, "interferer": scaled}
    mix = out["target"] + out["background"]
    gain = peak_normalize(mix)[1] if normalize else 1.0
    return {"mixture": (mix * gain).astype(np.float32)} | {
        k: (v * gain).astype(np.float32) for k, v in out.items()
    }


def load_noise(
    name_or_path: str | os.PathLike,
    *,
    sr: int,
    duration_s: float,
    noises_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """A background noise for the listening conditions, ``(N,)`` float32, peak 1.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"white"``, ``"room"`` or ``"event"`` (read from ``noises_dir``), or any audio file.
    sr : int
        Sample rate, Hz.
    duration_s : float
        Length; shorter noises are looped, longer ones cropped.
    noises_dir : path-like, optional
        Folder of the named noises (default ``noises/``). A named noise missing there is
        generated in memory with the same seed as ``audiointerp noises`` (same content).
    """
    check_positive("sr", sr)
    check_positive("duration_s", duration_s)
    n = int(round(duration_s * sr))
    name = str(name_or_path)
    if name in NOISE_NAMES:
        path = Path(noises_dir or DEFAULT_NOISES_DIR) / f"{name}.wav"
        if not path.is_file():
            log.info("%s not found; generating the %r noise in memory", path, name)
            return fix_length(make_noise(name, sr=sr, duration_s=duration_s), n)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise AudioFileError(
                f"noise {name!r} is neither a file nor one of {', '.join(NOISE_NAMES)}"
            )
    y = load_audio(path, sr=sr)
    if not np.any(y):
        raise AudioFileError(f"{path}: the noise is silent (all zeros); pick another noise file")
    return fit_noise(y, n)
