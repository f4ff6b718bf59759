"""Audio file I/O: read, mix down, resample, fix the length, peak-normalize, write.

Every clip the package sees goes through :func:`load_audio`, so the data layer's promise --
mono float32 at the requested rate, a fixed number of samples, peak 1 (or silence) -- is kept
in one place. Bad files raise :class:`~audiointerp.errors.AudioFileError` naming the file and
the problem; nothing is silently repaired except what has one correct answer (sample format,
rate, channel count, length).

Channel policy: a mono mix-down is the equal-weight mean of *all* channels, whatever their
number (as ``librosa.to_mono`` does). A file with more than two channels is therefore handled,
not rejected: averaging is the one mix-down that needs no assumption about the channel layout,
and ``mono=False`` returns every channel for callers that want to choose.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr

from audiointerp.errors import AudioFileError, DatasetError, ParameterError
from audiointerp.validation import check_choice, check_positive

log = logging.getLogger(__name__)

DEFAULT_SR = 16000  # Hz, the embedded default's sample rate
DEFAULT_DURATION_S = 5.0  # s, ESC-50's clip length
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
RESAMPLE_QUALITY = "HQ"  # soxr's default; "VHQ" changes results by < 1e-6 and costs 2x

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_DURATION_S",
    "DEFAULT_SR",
    "AudioInfo",
    "audio_info",
    "fix_length",
    "load_audio",
    "load_audio_gain",
    "peak_normalize",
    "read_audio",
    "resample",
    "resolve_within",
    "to_mono",
    "write_audio",
]


class AudioInfo(NamedTuple):
    """Header of a readable audio file."""

    sr: int  # Hz
    channels: int
    frames: int  # samples per channel
    subtype: str  # soundfile subtype, e.g. "PCM_24", "FLOAT"

    @property
    def duration_s(self) -> float:
        return self.frames / self.sr


def _open_error(path: Path, exc: Exception) -> AudioFileError:
    if not path.exists():
        return AudioFileError(f"{path}: file not found; check the path or the metadata row")
    if path.is_dir():
        return AudioFileError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        return AudioFileError(f"{path}: file is empty (0 bytes); re-copy or remove it")
    return AudioFileError(
        f"{path}: not a readable audio file (truncated header, or not audio: {exc}); "
        f"re-export it as WAV/FLAC/OGG or remove it"
    )


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read a file's header only.

    Parameters
    ----------
    path : path-like
        Audio file.

    Returns
    -------
    AudioInfo
        Sample rate, channels, frames and soundfile subtype (e.g. ``"PCM_24"``).

    Raises
    ------
    AudioFileError
        Missing, empty, truncated or non-audio file, or one with zero samples.
    """
    path = Path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise _open_error(path, exc) from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(
            f"{path}: contains no samples (frames={info.frames}, sr={info.samplerate}); remove it"
        )
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), info.subtype)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read every sample of a file as float32 in [-1, 1].

    Integer formats (8/16/24/32-bit) are scaled by soundfile; float files are read as stored.

    Returns
    -------
    y : np.ndarray, float32, shape (C, N)
        Channels first.
    sr : int
        The file's sample rate.

    Raises
    ------
    AudioFileError
        See :func:`audio_info`; also NaN or Inf samples.
    """
    path = Path(path)
    try:  # no separate header read: one open per clip
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise _open_error(path, exc) from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: contains no samples; remove it")
    if not np.isfinite(data).all():
        bad = int(np.size(data) - np.isfinite(data).sum())
        raise AudioFileError(
            f"{path}: {bad} sample(s) are NaN or Inf (a corrupt float file); re-export or remove it"
        )
    return np.ascontiguousarray(data.T), int(sr)


def to_mono(y: np.ndarray) -> np.ndarray:
    """Equal-weight mean over channels: ``(C, N) -> (N,)``; ``(N,)`` is returned unchanged."""
    return y if y.ndim == 1 else y.mean(axis=0, dtype=np.float32)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (``(N,)`` or ``(C, N)``, float32)."""
    check_positive("orig_sr", orig_sr)
    check_positive("target_sr", target_sr)
    if orig_sr == target_sr:
        return y
    # soxr wants time first: (N,) or (N, C).
    out = soxr.resample(y.T, orig_sr, target_sr, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(out.T, dtype=np.float32)


def fix_length(y: np.ndarray, n: int) -> np.ndarray:
    """Crop the end or zero-pad the end along the last axis to exactly ``n`` samples."""
    if y.shape[-1] >= n:
        return y[..., :n]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])]
    return np.pad(y, pad)


def peak_normalize(y: np.ndarray, *, peak: float = 1.0) -> tuple[np.ndarray, float]:
    """Scale so that ``max |y| == peak``; silence stays silence.

    Parameters
    ----------
    y : np.ndarray, float, any shape
        Signal (all channels share the gain).
    peak : float
        Target peak.

    Returns
    -------
    y_norm : np.ndarray
        ``y * gain``, same dtype.
    gain : float
        The single gain applied (1.0 for all-zero input), so related signals such as a
        mixture's stems can be scaled the same way.
    """
    top = float(np.max(np.abs(y))) if y.size else 0.0
    if top == 0.0:  # all-zero: any gain keeps it silent; 1.0 avoids 0/0
        return y, 1.0
    gain = peak / top
    return (y * np.asarray(gain, dtype=y.dtype)).astype(y.dtype, copy=False), gain


def load_audio_gain(
    path: str | os.PathLike,
    *,
    sr: int,
    duration_s: float | None = None,
    mono: bool = True,
    normalize: bool = True,
    gain: float | None = None,
) -> tuple[np.ndarray, float]:
    """Like :func:`load_audio`, but also return the gain applied.

    Parameters
    ----------
    gain : float, optional
        Apply this gain instead of peak-normalizing (for stems that must share their
        mixture's gain). Overrides ``normalize``.

    Returns
    -------
    y : np.ndarray, float32, shape (N,) or (C, N)
    gain : float
        The factor the resampled, length-fixed signal was multiplied by.
    """
    check_positive("sr", sr)
    if duration_s is not None:
        check_positive("duration_s", duration_s)
    y, file_sr = read_audio(path)
    if mono:
        y = to_mono(y)
    y = resample(y, orig_sr=file_sr, target_sr=int(sr))
    if duration_s is not None:
        n = int(round(duration_s * sr))
        if y.shape[-1] < n:
            log.debug("%s: %d samples padded to %d", path, y.shape[-1], n)
        y = fix_length(y, n)
    if gain is not None:
        return (y * np.float32(gain)).astype(np.float32, copy=False), float(gain)
    if normalize:
        return peak_normalize(y)
    return y, 1.0


def load_audio(
    path: str | os.PathLike,
    *,
    sr: int,
    duration_s: float | None = None,
    mono: bool = True,
    normalize: bool = True,
) -> np.ndarray:
    """Load an audio file as float32 at ``sr``, optionally fixed length and peak-normalized.

    Steps, in order: read (any soundfile format and bit depth), mean over channels if
    ``mono``, resample with soxr, crop or zero-pad the end to ``duration_s``, scale the peak
    to 1 (all-zero audio is returned unchanged).

    Parameters
    ----------
    path : path-like
        WAV, FLAC, OGG or any format libsndfile reads.
    sr : int
        Output sample rate in Hz.
    duration_s : float, optional
        Output duration in seconds; ``None`` keeps the file's length.
    mono : bool
        Mix all channels down to one.
    normalize : bool
        Peak-normalize.

    Returns
    -------
    np.ndarray, float32, shape (N,) (or (C, N) with ``mono=False``)

    Raises
    ------
    AudioFileError
        Missing, empty, truncated, non-audio, zero-sample or NaN/Inf file.
    """
    return load_audio_gain(path, sr=sr, duration_s=duration_s, mono=mono, normalize=normalize)[0]


def write_audio(
    path: str | os.PathLike, y: np.ndarray, sr: int, *, subtype: str = "PCM_16"
) -> Path:
    """Write ``(N,)`` or ``(C, N)`` audio; integer arrays are written as stored (no rescaling).

    Float input must lie in [-1, 1] for integer subtypes (values outside would clip).
    """
    path = Path(path)
    fmt = {".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower(), "WAV")
    check_choice("subtype", subtype, sorted(sf.available_subtypes(fmt)))
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all():
            raise ParameterError(f"refusing to write {path}: audio contains NaN or Inf")
        if subtype.startswith("PCM") and np.abs(y).max(initial=0.0) > 1.0:
            raise ParameterError(f"refusing to write {path}: peak > 1 would clip in {subtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.T if y.ndim == 2 else y, int(sr), subtype=subtype)
    return path


def resolve_within(root: str | os.PathLike, relative: str | os.PathLike) -> Path:
    """Join a metadata path onto a data root, refusing paths that leave the root.

    The check is lexical (``..`` and absolute paths), so symbolic links the user placed
    inside the root keep working.

    Raises
    ------
    DatasetError
        The path is absolute or escapes ``root`` through ``..``.
    """
    root = Path(os.path.normpath(os.path.abspath(root)))
    rel = Path(relative)
    joined = Path(os.path.normpath(root / rel))
    if rel.is_absolute() or (joined != root and root not in joined.parents):
        raise DatasetError(
            f"path {str(relative)!r} in the metadata of {root} points outside the data root; "
            f"metadata paths must be relative and stay inside it"
        )
    return joined
