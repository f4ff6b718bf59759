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
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr

from audiointerp.data.writer import (  # re-exported: callers import writers from io
    WRITE_FORMATS,
    audio_format,
    output_subtype,
    write_audio,
)
from audiointerp.errors import AudioFileError, DatasetError
from audiointerp.validation import check_positive

log = logging.getLogger(__name__)

DEFAULT_SR = 16000  # Hz, the embedded default's sample rate
DEFAULT_DURATION_S = 5.0  # s, ESC-50's clip length
# File suffixes taken as audio when scanning folders (MP3 where libsndfile >= 1.1 reads it).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif") + (
    (".mp3",) if "MP3" in sf.available_formats() else ()
)
RESAMPLE_QUALITY = "HQ"  # soxr's default; "VHQ" changes results by < 1e-6 and costs 2x
_RESAMPLE_MARGIN = 8192  # frames read past a clip's end so its resampled samples are exact

__all__ = [
    "AUDIO_SUFFIXES",
    "WRITE_FORMATS",
    "DEFAULT_DURATION_S",
    "DEFAULT_SR",
    "AudioInfo",
    "AudioScan",
    "audio_format",
    "audio_info",
    "fix_length",
    "frames_needed",
    "load_audio",
    "load_audio_gain",
    "output_subtype",
    "peak_normalize",
    "read_audio",
    "resample",
    "resolve_within",
    "scan_audio",
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
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        return AudioFileError(
            f"{path}: cannot be read: permission denied; make it readable (chmod u+r {path})"
        )
    except OSError as err:
        return AudioFileError(f"{path}: cannot be read ({err.strerror or err}); check the disk")
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


def frames_needed(n_out: int, *, file_sr: int, target_sr: int) -> int:
    """Frames of a ``file_sr`` file to read so that resampling them to ``target_sr`` gives the
    first ``n_out`` samples exactly as resampling the whole file would.

    soxr's output sample ``k`` depends on input within its filter's reach around
    ``k * file_sr / target_sr``; half a second plus 8192 frames is well past that reach for
    every quality soxr offers, and the result is bit-identical (checked over 8-192 kHz in the
    tests).
    """
    if file_sr == target_sr:
        return n_out
    return int(math.ceil(n_out * file_sr / target_sr)) + file_sr // 2 + _RESAMPLE_MARGIN


def read_audio(
    path: str | os.PathLike,
    *,
    duration_s: float | None = None,
    target_sr: int | None = None,
) -> tuple[np.ndarray, int]:
    """Read a file's samples as float32 in [-1, 1]: all of them, or only the start a clip needs.

    Integer formats (8/16/24/32-bit) are scaled by soundfile; float files are read as stored.
    With ``duration_s`` only the first ``duration_s`` seconds are read (plus, with
    ``target_sr``, what resampling needs to give those seconds exactly), so a 5 s clip of a
    one-hour file costs 5 s of memory, not an hour's.

    Parameters
    ----------
    path : path-like
        Audio file.
    duration_s : float, optional
        Read only this many seconds from the start; ``None`` reads the whole file.
    target_sr : int, optional
        The rate the samples will be resampled to (see :func:`frames_needed`).

    Returns
    -------
    y : np.ndarray, float32, shape (C, N)
        Channels first.
    sr : int
        The file's sample rate.

    Raises
    ------
    AudioFileError
        See :func:`audio_info`; also NaN or Inf samples (in the part read).
    """
    path = Path(path)
    try:  # no separate header read: one open per clip
        with sf.SoundFile(str(path)) as fh:
            sr = int(fh.samplerate)
            frames = -1
            if duration_s is not None:
                n_out = int(round(duration_s * (target_sr or sr)))
                frames = min(fh.frames, frames_needed(n_out, file_sr=sr, target_sr=target_sr or sr))
            data = fh.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise _open_error(path, exc) from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: contains no samples; remove it")
    if not np.isfinite(data).all():
        bad = int(np.size(data) - np.isfinite(data).sum())
        raise AudioFileError(
            f"{path}: {bad} sample(s) are NaN or Inf (a corrupt float file); re-export or remove it"
        )
    return np.ascontiguousarray(data.T), sr


class AudioScan(NamedTuple):
    """What :func:`scan_audio` found in every sample of a file."""

    info: AudioInfo
    silent: bool  # every sample is zero


def scan_audio(path: str | os.PathLike, *, block_frames: int = 1 << 18) -> AudioScan:
    """Check every sample of a file block by block (NaN/Inf, silence) in bounded memory.

    Raises
    ------
    AudioFileError
        As :func:`read_audio`.
    """
    path = Path(path)
    info = audio_info(path)
    silent, bad = True, 0
    try:
        with sf.SoundFile(str(path)) as fh:
            for block in fh.blocks(block_frames, dtype="float32", always_2d=True):
                finite = np.isfinite(block)
                bad += int(block.size - finite.sum())
                silent = silent and not np.any(block[finite])
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise _open_error(path, exc) from None
    if bad:
        raise AudioFileError(
            f"{path}: {bad} sample(s) are NaN or Inf (a corrupt float file); re-export or remove it"
        )
    return AudioScan(info, silent)


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
    y, file_sr = read_audio(path, duration_s=duration_s, target_sr=int(sr))
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
