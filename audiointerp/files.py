"""File helpers shared by every layer: content hashes, atomic writes, safe path names.

Kept free of heavy imports. Atomic writes go through a temporary file in the target's folder
and ``os.replace``, so a reader (or a rerun after ``kill -9``) sees the old file or the whole
new one, never a part.

Temporary files carry a name only this module makes,
``.<target name>~<host>~<pid>~<token>.audiointerp-tmp``, so that clean-up can tell them from
a user's files (a user's ``notes/.draft.md.tmp`` is never touched) and from the live writes of
another process (the writer's host and pid are in the name).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import time
from pathlib import Path

from audiointerp.errors import ParameterError, naming_file

_CHUNK = 1 << 20
TEMP_SUFFIX = ".audiointerp-tmp"
_TEMP_NAME = re.compile(
    r"^\.(?P<target>.+)~(?P<host>[A-Za-z0-9_.-]*)~(?P<pid>\d+)~[0-9a-f]+"
    + re.escape(TEMP_SUFFIX)
    + "$"
)
# A write that takes longer than this is not a write in progress: its writer is gone.
STALE_TEMP_AGE_S = 3600.0
# Names used as path components: a letter, digit or underscore first (no hidden files, no
# "..", no absolute paths), then letters, digits and ``_ . + -``.
_SAFE_NAME = re.compile(r"^\w[\w.+-]*$")
_MAX_NAME = 100


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_path(path: str | Path) -> str:
    """SHA-256 of a file, or of a folder's files (relative names and bytes, in sorted order)."""
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path)
    h = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(item.relative_to(path).as_posix().encode() + b"\0")
        h.update(sha256_file(item).encode())
    return h.hexdigest()


def host_name() -> str:
    """This machine's short host name, restricted to the characters temp names allow."""
    name = socket.gethostname().split(".")[0] or "host"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _temp_path(path: Path) -> Path:
    token = secrets.token_hex(4)
    return path.with_name(f".{path.name}~{host_name()}~{os.getpid()}~{token}{TEMP_SUFFIX}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The temporary file lives in the same folder (``os.replace`` is atomic within a file system)
    and is fsynced before the rename, so a power cut cannot leave a renamed but empty file. It
    is created with mode 0o666 filtered by the user's umask (the permissions any new file
    gets), not the 0o600 of :func:`tempfile.mkstemp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _temp_path(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # a 32-bit token collided with a live temp: draw again
            continue
    try:
        with naming_file(path), os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text; returns ``path``."""
    atomic_write_bytes(path, text.encode("utf-8"))
    return Path(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def is_stale_temporary(path: str | Path, *, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_write_bytes` whose writer is gone.

    A temporary written on this host is stale when its process no longer exists; one written
    on another host (a cluster node sharing the folder) when it is older than
    :data:`STALE_TEMP_AGE_S`. Any other file, a user's included, is never stale.
    """
    path = Path(path)
    m = _TEMP_NAME.match(path.name)
    if not m:
        return False
    if m.group("host") == host_name():
        return not _pid_alive(int(m.group("pid")))
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > STALE_TEMP_AGE_S


def remove_stale_temporaries(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """Delete the stale temporaries (:func:`is_stale_temporary`) in ``folder``; return them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f"*{TEMP_SUFFIX}"
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    removed = []
    for tmp in found:
        if tmp.is_file() and is_stale_temporary(tmp):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def check_path_name(what: str, name: object) -> str:
    """Return ``name`` if it is safe as one path component, else raise :class:`ParameterError`.

    Names of models, and anything else that becomes a folder or file name under an output
    folder, must not be able to point outside it (``../../x``, ``/tmp/x``) or hide there
    (``.x``).
    """
    text = str(name)
    if len(text) > _MAX_NAME or not _SAFE_NAME.match(text):
        raise ParameterError(
            f"{what} {text!r} cannot be used as a folder name: use letters, digits and "
            "'_', '.', '+', '-' (starting with a letter, digit or '_'), at most "
            f"{_MAX_NAME} characters, e.g. 'mel' or 'cnn14_esc50'"
        )
    return text
