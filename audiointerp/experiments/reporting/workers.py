"""Worker processes for the tables step: tables and figures computed side by side.

The step's work is a few independent tables (bootstrap and paired tests) and five figures
(matplotlib's drawing is most of the time), so each is submitted as soon as its inputs exist
and runs in a forked worker; the caller collects the results before it writes the page.
Where ``fork`` is not the platform's safe default (macOS, Windows) or one CPU is available,
everything runs in this process when it is submitted, with the same results. Workers also
keep seaborn's theme out of the caller's matplotlib settings.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["Workers", "run_now"]

#: Most worker processes.
MAX_WORKERS = 4


def _draw(function: str, stem: Path, args: tuple, kwargs: dict) -> list[Path]:
    """Build one figure with ``plots.<function>`` and save it; ``[]`` when it has no data."""
    from audiointerp.experiments.reporting import plots

    fig = getattr(plots, function)(*args, **kwargs)
    return [] if fig is None else plots.save(fig, stem)


def run_now(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """``function(*args, **kwargs)`` computed here, as a finished future (no workers)."""
    done: Future = Future()
    done.set_result(function(*args, **kwargs))
    return done


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Workers:
    """Run functions in forked workers (or inline) and collect figures.

    Parameters
    ----------
    figures : Path or None
        Folder of the figures' PNG and PDF files (None: :meth:`figure` draws nothing).
    parallel : bool
        Use worker processes where that is safe (see the module).
    """

    def __init__(self, figures: Path | None, *, parallel: bool = True) -> None:
        self.folder = None if figures is None else Path(figures)
        cpus = _cpus()
        # one per CPU: a third worker on two CPUs imported matplotlib once more and was slower
        workers = min(MAX_WORKERS, cpus) if cpus > 1 else 0
        if not (parallel and sys.platform.startswith("linux")):
            workers = 0
        context = multiprocessing.get_context("fork") if workers else None
        self._pool = ProcessPoolExecutor(workers, mp_context=context) if workers else None
        self._figures: dict[str, Future] = {}

    def submit(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """``function(*args, **kwargs)`` in a worker (a module-level function: it is pickled by
        name), or now; the result is ``.result()`` of the returned future."""
        if self._pool is not None:
            return self._pool.submit(function, *args, **kwargs)
        return run_now(function, *args, **kwargs)

    def figure(self, name: str, function: str, *args: Any, **kwargs: Any) -> None:
        """Draw figure ``name`` with ``plots.<function>(*args, **kwargs)``."""
        if self.folder is not None:
            self._figures[name] = self.submit(_draw, function, self.folder / name, args, kwargs)

    def figures(self) -> dict[str, list[Path]]:
        """Wait for every figure: ``name -> [png, pdf]`` of those drawn (a worker's exception
        is raised here)."""
        done = {name: job.result() for name, job in self._figures.items()}
        return {name: paths for name, paths in done.items() if paths}

    def close(self) -> None:
        """Stop the workers (cancelling what has not started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
