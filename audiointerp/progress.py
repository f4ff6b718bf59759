"""Progress that suits where it is read: a live bar on a terminal, one line per step elsewhere.

A tqdm bar redraws itself with carriage returns, which a terminal shows as one moving line but a
CI log or a file keeps as one enormous line (or thousands of fragments). :func:`progress_bar`
gives a tqdm bar when the output is a terminal or a Jupyter kernel, and otherwise a
:class:`LineProgress`, which writes one complete line per step (per epoch, per unit of the
grid): what was done, how many of how many, the time so far and an estimate of the time left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

__all__ = ["LineProgress", "interactive_output", "progress_bar"]


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and hasattr(ip, "kernel")


def interactive_output(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default stderr) is read live: a terminal or a Jupyter kernel."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty()) or _in_kernel()
    except ValueError:  # closed stream
        return False


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class LineProgress:
    """A tqdm-like progress reporter that writes one full line per :meth:`update`.

    Supports the parts of tqdm's interface the package uses: iteration, ``update``,
    ``set_postfix``, ``set_postfix_str``, ``set_description``, ``close`` and the context
    manager protocol. Disabled, it does nothing.
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        disable: bool = False,
        file: IO[str] | None = None,
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc
        self.unit = unit
        self.disable = disable
        self.file = file
        self.n = 0
        self.postfix = ""
        self._t0 = time.perf_counter()

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kw) -> None:
        items = {**(ordered_dict or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def line(self) -> str:
        """The line :meth:`update` writes."""
        elapsed = time.perf_counter() - self._t0
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        parts = [f"{self.desc}: {count} {self.unit}" if self.desc else f"{count} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        timing = f"{_clock(elapsed)} elapsed"
        if self.total and self.n:
            timing += f", ~{_clock(elapsed / self.n * (self.total - self.n))} left"
        parts.append(timing)
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more steps and write the line (nothing for ``n == 0``)."""
        if n <= 0:
            return
        self.n += n
        if self.disable:
            return
        out = sys.stderr if self.file is None else self.file
        out.write(self.line() + "\n")
        out.flush()

    def close(self) -> None:
        """Nothing to tidy: every line is already complete."""


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    lines: bool = True,
    **tqdm_options: Any,
) -> Any:
    """A tqdm bar on a terminal or in Jupyter, else a :class:`LineProgress`.

    Parameters
    ----------
    iterable : iterable, optional
    total : int, optional
    desc, unit : str
    disable : bool
        Show nothing.
    lines : bool
        Off a terminal: write one line per step (``True``) or nothing (``False``, for inner
        bars such as the batches of one epoch, whose lines would only be noise).
    **tqdm_options
        Passed to tqdm (e.g. ``leave``, ``dynamic_ncols``).

    Returns
    -------
    tqdm or LineProgress
    """
    if interactive_output():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, **tqdm_options)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, disable=disable or not lines)
