"""The package's exception classes.

Every error raised for bad user input is an :class:`AudioInterpError`; its message names the
file or argument, says what was wrong and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator


class AudioInterpError(Exception):
    """Base class of every error the package raises on purpose."""


class ParameterError(AudioInterpError, ValueError):
    """A bad argument: wrong shape, dtype, range, or an unknown option."""


class AudioFileError(AudioInterpError):
    """An audio file that cannot be used (missing, empty, corrupt, unusable content)."""


class DatasetError(AudioInterpError):
    """A data set folder or metadata file that cannot be used."""


class CheckpointError(AudioInterpError):
    """A model checkpoint that cannot be loaded safely or does not fit the model."""


class OutputError(AudioInterpError):
    """An output location that cannot be written (a file where a folder is needed, ...)."""


# errno -> (what happened, what to do); the file is named from the OSError itself.
_OS_FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: (
        "no space left on the device",
        "free some space or choose an output folder on another disk, then run the same "
        "command again (a grid run keeps its finished units and resumes)",
    ),
    errno.EDQUOT: (
        "the disk quota is exhausted",
        "free some space or choose an output folder elsewhere, then run the same command again",
    ),
    errno.EACCES: (
        "permission denied",
        "choose a folder you can write (e.g. --out under your home) or fix its permissions",
    ),
    errno.EPERM: (
        "operation not permitted",
        "choose a folder you can write or fix its permissions",
    ),
    errno.EROFS: (
        "the file system is read-only",
        "choose an output folder on a writable disk (--out)",
    ),
    errno.ENOTDIR: (
        "a part of the path is a file, not a folder",
        "choose another output path, or move that file away",
    ),
    errno.EEXIST: (
        "it exists and is a file, not a folder",
        "choose another output folder, or move that file away",
    ),
    errno.EISDIR: (
        "it is a folder where a file is needed",
        "give a file name, not a folder",
    ),
    errno.ENAMETOOLONG: ("the file name is too long", "choose a shorter output path"),
    errno.EMFILE: (
        "too many open files",
        "raise the limit (ulimit -n) or run fewer jobs at once, then run again",
    ),
    errno.EIO: ("an input/output error", "check the disk (dmesg), then run the same command again"),
}


def os_error_message(exc: OSError, *, fallback: str | None = None) -> str:
    """One line for an operating-system fault: the file, what happened and what to do.

    Used by the CLI so that disk full, permissions, read-only folders and files where
    folders belong end in a message and exit status 2, not a traceback. ``fallback`` names
    the place (the output folder) when the error itself names no file.
    """
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    where = " -> ".join(str(n) for n in names) or (
        f"writing under {fallback}" if fallback else "an output file"
    )
    what, fix = _OS_FAULTS.get(
        exc.errno or -1, (exc.strerror or str(exc) or type(exc).__name__, "check the path")
    )
    return f"{where}: {what}; {fix}"


@contextlib.contextmanager
def naming_file(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise an ``OSError`` that names no file (a failed ``write()`` on a full disk) with
    ``path`` as its file name, so the message says which file could not be written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc
        raise
