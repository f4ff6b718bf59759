"""Paths as a notebook or an app means them: relative to the repository root.

JupyterLab and Voila start a notebook's kernel in the notebook's own folder (``notebooks/``),
papermill and the CLI wherever they are called from. The numbered notebooks write their paths
relative to the repository root (``configs/experiment_default.yaml``, ``data/synth``), and
their second cell passes each one through :func:`repo_path`, so they work from either folder
without changing the process's working directory.

The root is found from the working directory, never from where the package is installed: the
nearest folder at or above it that holds this project's ``pyproject.toml`` and ``audiointerp/``
package. Outside a checkout, paths stay relative to the working directory as usual.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["find_repo_root", "repo_path"]

#: Files that mark the repository root (a checkout of this project).
_MARKERS = ("pyproject.toml", "audiointerp/__init__.py")


def find_repo_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) that is a
    checkout of this project, or ``None`` outside one."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in _MARKERS):
            return folder
    return None


def repo_path(path: str | os.PathLike | None, *, start: str | os.PathLike | None = None) -> Any:
    """``path`` resolved against the repository root (see the module docstring).

    Parameters
    ----------
    path : str, path-like or None
        An absolute path (returned as it is), a path relative to the repository root, or
        ``None``/``""`` (returned unchanged: notebooks use them for "not given").
    start : path-like, optional
        Where to look for the root from (default: the working directory).

    Returns
    -------
    Path, or the input when it is ``None`` or ``""``
    """
    if path is None or str(path) == "":
        return path
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = find_repo_root(start)
    return (root / p) if root is not None else p
