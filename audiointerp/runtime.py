"""Process-level settings: device choice, seeding and the allocator.

Nothing here runs at import; entry points (CLI, runner, benchmarks) call these explicitly.
torch is imported where it is used: every CLI command tunes the allocator first, and commands
that never touch a model (``tables``) should not pay torch's import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import random
import weakref
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

# glibc mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Large enough that conv activations of a batch stay in the heap between forward passes.
_ALLOC_THRESHOLD_BYTES = 1 << 30
#: The largest threshold mallopt can set: its value is a C int (larger ones wrap to 0 or less,
#: which would send every allocation to mmap).
MAX_THRESHOLD_BYTES = 2**31 - 1
# A pass's heap per byte of its largest layer (input + output) and row: CNN14 at 64 x 501
# grows its heap by 2.7-2.9x that per row (batches of 32 and 64; benchmarks/bench_vs_floor.py).
_WORKING_SET_FACTOR = 3

_threshold = 0  # the thresholds set so far (0: not tuned)
# per (model, input shape): bytes of the largest layer (input + output) for one row
_row_bytes: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], int]] = (
    weakref.WeakKeyDictionary()
)


def tune_allocator(working_set_bytes: int = 0) -> bool:
    """Keep large buffers in the heap between forward passes (glibc only).

    glibc returns big activation buffers to the OS after each call, so every batch pays its
    page faults again; raising the mmap and trim thresholds removes that cost (DESIGN.md,
    "Performance"). The thresholds are 1 GiB, or twice ``working_set_bytes`` when that is
    larger (up to :data:`MAX_THRESHOLD_BYTES`); a later call only raises them. The trim
    threshold must exceed the heap a pass leaves free at its top, or the heap is trimmed
    after every pass and the next one faults it in again. A no-op
    elsewhere.

    Parameters
    ----------
    working_set_bytes : int
        Heap bytes a forward pass needs (:func:`pass_working_set`); 0 for the default.

    Returns
    -------
    bool
        Whether the thresholds are set.
    """
    global _threshold
    want = min(MAX_THRESHOLD_BYTES, max(_ALLOC_THRESHOLD_BYTES, int(working_set_bytes)))
    if _threshold >= want:
        return True
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, want) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, want) == 1
    if ok:
        _threshold = want
    log.debug("mallopt thresholds %d bytes set: %s", want, ok)
    return bool(ok)


def layer_bytes_per_row(model: nn.Module, example: torch.Tensor) -> int:
    """Bytes of ``model``'s largest leaf layer (its input plus its output) for one input row.

    Measured once per model and input shape with forward hooks on one row of ``example``
    (cached while the model lives).
    """
    import torch

    key = tuple(example.shape[1:])
    cache = _row_bytes.setdefault(model, {})
    if key not in cache:
        sizes = [0]

        def hook(module: nn.Module, args: tuple, out: object) -> None:
            total = sum(a.numel() * a.element_size() for a in args if torch.is_tensor(a))
            if torch.is_tensor(out):
                total += out.numel() * out.element_size()
            sizes.append(total)

        leaves = [m for m in model.modules() if not list(m.children())]
        handles = [m.register_forward_hook(hook) for m in leaves]
        try:
            with torch.inference_mode():
                model(example[:1])
        finally:
            for h in handles:
                h.remove()
        cache[key] = max(sizes)
    return cache[key]


def pass_working_set(model: nn.Module, example: torch.Tensor, rows: int) -> int:
    """Estimated heap bytes of one forward pass of ``rows`` inputs shaped like ``example``."""
    return _WORKING_SET_FACTOR * rows * layer_bytes_per_row(model, example)


def memory_batch_size(model: nn.Module, example: torch.Tensor, requested: int) -> int:
    """The most rows per pass, up to ``requested``, whose working set the allocator's largest
    thresholds keep in the heap (so passes reuse memory instead of faulting it in again).

    The largest power of two that fits (a pass's rows then split evenly), or ``requested``.
    At the committed models' sizes this is ``requested``; at CNN14 scale (64 x 501) it caps
    passes at 32 rows: 64-row passes need ~2.7 GB of heap, more than mallopt can keep.
    """
    per_row = _WORKING_SET_FACTOR * layer_bytes_per_row(model, example)
    fit = max(1, MAX_THRESHOLD_BYTES // max(per_row, 1))
    if fit >= requested:
        return int(max(1, requested))
    return 1 << (int(fit).bit_length() - 1)


def default_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` if given, else CUDA when available, else CPU.

    Raises
    ------
    ParameterError
        ``device`` is not a torch device name, or names CUDA on a machine without it.
    """
    import torch

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
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
