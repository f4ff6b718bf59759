"""Exclusive run locks: a lock file that names its holder (pid, host, command, start time).

The lock is an advisory ``flock`` on the file, so the kernel releases it when the holder dies
(even by ``kill -9``) and a lock file left behind is simply taken over; the file's content only
tells a second process *who* holds it. The holder deletes the file when it lets go. Where the
file system refuses ``flock`` (some network mounts), the lock degrades to a warning: shards
still write disjoint units atomically, so only the protection against a duplicated run is lost.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from audiointerp.errors import AudioInterpError
from audiointerp.files import host_name

try:  # POSIX; elsewhere the lock degrades as on a file system without flock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_MIN_WAIT_S = 2.0


class LockHeldError(AudioInterpError):
    """Another live process holds the lock (its pid, host and command are in the message)."""


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process (it has not written its name yet)"
    cmd = " ".join(holder.get("command") or [])[:200]
    return f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')}" + (
        f" ({cmd})" if cmd else ""
    )


class RunLock:
    """An exclusive lock on ``path`` held by this process.

    Parameters
    ----------
    path : str or Path
        The lock file (created if needed, removed on release).
    what : str
        What the lock protects, for messages (``"shard 0/1 of grid 'demo'"``).
    info : dict, optional
        Extra fields written into the lock file (e.g. the shard).

    Examples
    --------
    >>> with RunLock(folder / "shard-0-of-1.lock", what="grid demo").acquire(wait_s=0):
    ...     ...  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, what: str, info: dict[str, Any] | None = None):
        self.path = Path(path)
        self.what = what
        self.info = dict(info or {})
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict[str, Any] | None:
        """What the lock file says about its holder (``None`` if absent or unreadable)."""
        try:
            return json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None

    def _try_once(self) -> bool:
        """One attempt; ``True`` when acquired."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                os.close(fd)
                raise
            log.warning(
                "%s: the file system does not support locks; a second run on this folder "
                "would not be detected",
                self.path,
            )
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed the file while we waited: start again
            os.close(fd)
            return self._try_once()
        previous = self.holder()
        record = {
            "pid": os.getpid(),
            "host": host_name(),
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": list(sys.argv),
            "what": self.what,
            **self.info,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        if previous and previous.get("pid") != os.getpid():
            log.info("%s: took over the lock left by %s", self.path, _describe(previous))
        return True

    def acquire(self, *, wait_s: float | None = 0.0, poll_s: float = 0.5) -> RunLock:
        """Take the lock, waiting up to ``wait_s`` seconds (``None``: as long as it takes).

        Raises
        ------
        LockHeldError
            If another live process still holds it after ``wait_s``; the message names it.
        """
        if self._fd is not None:
            return self
        # Even without waiting, retry briefly: a probe of lock_is_held() by a starting shard
        # holds the file for a moment, and must not read as a running grid.
        deadline = None if wait_s is None else time.monotonic() + max(_MIN_WAIT_S, wait_s)
        announced = False
        while not self._try_once():
            holder = self.holder()
            if deadline is not None and time.monotonic() >= deadline:
                waited = f" after waiting {wait_s:.0f} s" if wait_s else ""
                raise LockHeldError(
                    f"{self.path}: {self.what} is already running{waited}: {_describe(holder)}. "
                    "Wait for it to finish (or pass --wait-lock SECONDS to queue behind it), or "
                    "write to another output folder"
                )
            if not announced:
                log.warning("%s: waiting for %s to finish", self.path, _describe(holder))
                announced = True
            time.sleep(poll_s)
        return self

    def release(self) -> None:
        """Let go: remove the file (while still holding it, so no waiter is fooled) and unlock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_is_held(path: str | Path) -> dict[str, Any] | None:
    """The holder of the lock file ``path`` if a live process holds it, else ``None``."""
    path = Path(path)
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return RunLock(path, what="").holder() or {}
    except OSError:
        os.close(fd)
        return None
    os.close(fd)  # nobody holds it: a file left by a killed run
    return None
