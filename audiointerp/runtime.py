"""Process-level settings: device choice, seeding and the allocator.

Nothing here runs at import; entry points (CLI, runner, benchmarks) call these explicitly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import random

import numpy as np
import torch

log = logging.getLogger(__name__)

# glibc mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Large enough that conv activations of a batch stay in the heap between forward passes.
_ALLOC_THRESHOLD_BYTES = 1 << 30

_allocator_tuned = False


def tune_allocator() -> bool:
    """Keep large buffers in the heap between forward passes (glibc only).

    glibc returns big activation buffers to the OS after each call, so every batch pays its
    page faults again; raising the mmap and trim thresholds removes that cost (DESIGN.md,
    "Performance"). A no-op elsewhere.

    Returns
    -------
    bool
        Whether the thresholds were set.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, _ALLOC_THRESHOLD_BYTES) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, _ALLOC_THRESHOLD_BYTES) == 1
    _allocator_tuned = bool(ok)
    log.debug("mallopt thresholds set: %s", ok)
    return _allocator_tuned


def default_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` if given, else CUDA when available, else CPU.

    Raises
    ------
    ParameterError
        ``device`` is not a torch device name, or names CUDA on a machine without it.
    """
    from audiointerp.errors import ParameterError
    from audiointerp.validation import check_device

    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(check_device("device", device))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"device={str(device)!r} but this machine has no usable CUDA; use device=cpu or "
            "leave it unset (CUDA when present, else CPU)"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ParameterError(
            f"device={str(device)!r} but this machine has {torch.cuda.device_count()} CUDA "
            "device(s); use cuda:0 or leave it unset"
        )
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
