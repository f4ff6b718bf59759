"""Writing audio files: the container from the suffix, atomically, with the cause of a failure.

:func:`write_audio` is how every command writes audio. The suffix picks the container
(:data:`WRITE_FORMATS`; an unknown suffix is an error, never a WAV under an ``.mp3`` name),
the subtype is checked against what that container stores, and the bytes are encoded in
memory and written through a temporary file beside the target, then renamed: a full disk or a
kill never leaves a truncated file under the real name, and an ``OSError`` names the file the
user asked for (so the CLI can say what to do).
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

import numpy as np
import soundfile as sf

from audiointerp.errors import ParameterError, naming_file

__all__ = ["WRITE_FORMATS", "audio_format", "output_subtype", "write_audio"]


def _write_formats() -> dict[str, str]:
    formats = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}
    if "MP3" in sf.available_formats():
        formats[".mp3"] = "MP3"
    return formats


#: Output suffix -> soundfile container written by :func:`write_audio`.
WRITE_FORMATS: dict[str, str] = _write_formats()


def audio_format(path: str | os.PathLike) -> str:
    """The container :func:`write_audio` writes for ``path``'s suffix (``"WAV"``, ``"FLAC"``...).

    Raises
    ------
    ParameterError
        A suffix that names no audio format written here (``.mp4``, no suffix).
    """
    path = Path(path)
    if path.is_dir():
        raise ParameterError(
            f"cannot write audio to {path}: it is a folder; give a file name, e.g. {path / 'out.wav'}"
        )
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        valid = ", ".join(WRITE_FORMATS)
        raise ParameterError(
            f"cannot write {path}: {path.suffix or 'no suffix'} is not an audio format written "
            f"here; name the file with one of {valid}"
        )
    return fmt


def output_subtype(path: str | os.PathLike, preferred: str = "FLOAT") -> str:
    """``preferred`` if ``path``'s format stores it, else that format's default subtype
    (``"FLOAT"`` for ``.wav``; ``"PCM_24"`` for ``.flac``; ``"VORBIS"`` for ``.ogg``...)."""
    fmt = audio_format(path)
    if preferred in sf.available_subtypes(fmt):
        return preferred
    return "PCM_24" if fmt == "FLAC" else sf.default_subtype(fmt)


def write_audio(
    path: str | os.PathLike, y: np.ndarray, sr: int, *, subtype: str = "PCM_16"
) -> Path:
    """Write ``(N,)`` or ``(C, N)`` audio; integer arrays are written as stored (no rescaling).

    The container follows the suffix (:data:`WRITE_FORMATS`). Float input must lie in [-1, 1]
    for integer subtypes (values outside would clip). The file appears complete or not at all
    (written to a temporary file beside it, then renamed), so a full disk or a kill never
    leaves a truncated file under the real name.

    Raises
    ------
    ParameterError
        An unknown suffix, a subtype the format cannot store, NaN/Inf or clipping samples.
    OSError
        The folder cannot be written (permission, read-only, full disk).
    """
    path = Path(path)
    fmt = audio_format(path)
    valid = sorted(sf.available_subtypes(fmt))
    if subtype not in valid:
        raise ParameterError(
            f"cannot write {path} as {subtype}: {fmt} files store {', '.join(valid)}; use another "
            f"subtype or a .wav name (WAV stores every PCM and float subtype)"
        )
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all():
            raise ParameterError(f"refusing to write {path}: audio contains NaN or Inf")
        if subtype not in ("FLOAT", "DOUBLE") and np.abs(y).max(initial=0.0) > 1.0:
            raise ParameterError(
                f"refusing to write {path}: peak {np.abs(y).max():.3g} > 1 would clip in "
                f"{subtype}; scale the audio, or write a .wav file as FLOAT"
            )
    # Encode in memory: libsndfile reports a failed write (full disk) only as an assertion
    # inside soundfile, so the bytes are written here, where the OSError keeps its cause.
    buf = io.BytesIO()
    sf.write(buf, y.T if y.ndim == 2 else y, int(sr), subtype=subtype, format=fmt)
    _replace_file(path, buf.getbuffer())
    return path


def _replace_file(path: Path, data: memoryview | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    Unlike :func:`audiointerp.files.atomic_write_bytes` there is no fsync: audio files are
    written by the thousand (the benchmark) and a power cut only costs a rerun. The
    temporary file is created with mode 0o666 so the user's umask applies.
    """
    with naming_file(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:  # name the file the user asked for, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
