"""Small reusable validators that raise :class:`~audiointerp.errors.ParameterError`.

Kept free of heavy imports so every layer can use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported where used: the checks of names and numbers need no torch
    import torch

from audiointerp.errors import ParameterError


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise listing the valid values."""
    choices = list(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name}={value!r} is not valid; choose one of: {valid}")
    return value


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` if it is > 0 (or >= 0 with ``allow_zero``)."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not np.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def check_tensor(
    name: str,
    x: Any,
    *,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    floating: bool = True,
    finite: bool = True,
) -> torch.Tensor:
    """Check a tensor's type, rank, shape (``None`` = any size) and values.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    x : torch.Tensor
        The value to check.
    ndim : int, optional
        Required number of dimensions.
    shape : sequence of int or None, optional
        Required shape; ``None`` entries match any size.
    floating : bool
        Require a floating-point dtype.
    finite : bool
        Reject NaN and Inf values.

    Returns
    -------
    torch.Tensor
        ``x`` unchanged.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise ParameterError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if floating and not torch.is_floating_point(x):
        raise ParameterError(f"{name} must have a floating dtype, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ParameterError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if shape is not None:
        want = tuple(shape)
        if x.ndim != len(want) or any(
            w is not None and w != s for w, s in zip(want, x.shape, strict=False)
        ):
            pretty = "(" + ", ".join("*" if w is None else str(w) for w in want) + ")"
            raise ParameterError(f"{name} must have shape {pretty}, got {tuple(x.shape)}")
    if finite and x.numel() and not bool(torch.isfinite(x).all()):
        raise ParameterError(f"{name} contains NaN or Inf values")
    return x


def check_device(name: str, device: Any) -> Any:
    """Return ``device`` if it names a torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).

    ``None`` passes (it means CUDA when present, else CPU). Whether the device exists on this
    machine is checked where it is used (:func:`audiointerp.runtime.default_device`), so a
    config written on a GPU machine still loads elsewhere.
    """
    import torch

    if device is None or isinstance(device, torch.device):
        return device
    if not isinstance(device, str) or not device.strip():
        raise ParameterError(f"{name}={device!r} is not a device; use cpu, cuda or cuda:<index>")
    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        raise ParameterError(
            f"{name}={device!r} is not a torch device; use cpu, cuda, cuda:<index> or mps, or "
            "leave it unset (CUDA when present, else CPU)"
        ) from None
    return device
