"""The paper's 14 masks built from an attribution map, and masking of features.

Every mask is computed per sample from that sample's own map ``A`` (its minimum, maximum and
quantiles), has the shape of ``A`` and values in [0, 1]. ``A+ = max(A, 0)``.

Degenerate maps get defined masks, never NaN:

- constant map (all zero included): ``minmax`` is 0 everywhere (no ranking to show); ``topK_k``
  keeps every bin (all tie at the quantile, and the definition is ``A >= q``);
- no positive value (all zero or all negative): ``minmax_pos``, ``pos_thresh_*`` and
  ``topK_*_pos`` are all zero (no positive evidence), ``sigmoid_pos`` is 0.5 everywhere, ``bin``
  is all zero;
- ``topK_k_pos`` keeps only positive bins: ties at zero (the non-positive part) are not evidence,
  so it keeps at most a share ``k`` plus ties among positive values.

Two rules for "the top share ``k`` of the positive part", under distinct names:

- ``topK_k_pos`` (this project's, in :data:`MASK_NAMES`): ``A+ >= q`` **and** ``A+ > 0``, with
  ``q`` the ``1 - k`` quantile of ``A+``. A map with fewer than a share ``k`` of positive bins
  keeps just those bins.
- ``topK_k_pos_study`` (:data:`STUDY_MASK_NAMES`, the reproduced study's code): ``A+ >= q``
  only. When fewer than a share ``k`` of the bins are positive, ``q = 0`` and every bin is kept
  (the mask is all ones). The paper configs score these in place of ``topK_k_pos``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from audiointerp.errors import ParameterError
from audiointerp.interpretation.mask_names import (  # noqa: F401  (defined without torch)
    ALL_MASK_NAMES,
    MASK_NAMES,
    NATIVE_MASK,
    STUDY_MASK_NAMES,
)
from audiointerp.validation import check_tensor

_TINY = torch.finfo(torch.float32).tiny


def _per_sample(values: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return values.reshape(-1, *([1] * (a.ndim - 1)))


def quantile(a: torch.Tensor, q: float, *, sorted_flat: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample ``q``-quantile with linear interpolation (``numpy.quantile``'s default).

    Sort-based, so it has no size limit (``torch.quantile`` refuses over 2**24 elements).
    ``sorted_flat``: ``a`` flattened per sample and sorted, when the caller has it (several
    quantiles of one map share one sort).

    Returns
    -------
    torch.Tensor, shape (B,)
    """
    if sorted_flat is None:
        sorted_flat = a.reshape(a.shape[0], -1).sort(dim=1).values
    flat = sorted_flat
    pos = q * (flat.shape[1] - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    out = flat[:, lo] + (flat[:, hi] - flat[:, lo]) * (pos - lo)
    if not bool(torch.isfinite(out).all()):
        # hi - lo overflowed (values near +-3.4e38): the same interpolation without the
        # difference; only then, so ordinary maps keep their bits.
        out = flat[:, lo] * (1.0 - (pos - lo)) + flat[:, hi] * (pos - lo)
    return out


def minmax(a: torch.Tensor) -> torch.Tensor:
    """``(A - min) / (max - min)`` per sample; 0 for a constant map."""
    flat = a.reshape(a.shape[0], -1)
    lo_b, hi_b = flat.aminmax(dim=1)
    lo, hi = _per_sample(lo_b, a), _per_sample(hi_b, a)
    span = hi - lo
    if not bool(torch.isfinite(span).all()):
        # max - min overflowed (a map spanning +-3e38): halve both terms, which is exact in
        # binary, so the ratio is the same and stays finite.
        return (a * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5).clamp_min(_TINY)
    return (a - lo) / span.clamp_min(_TINY)


def minmax_pos(a: torch.Tensor) -> torch.Tensor:
    """``A+ / max(A)`` per sample; 0 where the map has no positive value."""
    pos = a.clamp_min(0)
    top = _per_sample(pos.reshape(a.shape[0], -1).max(dim=1).values, a)
    return pos / top.clamp_min(_TINY)


def top_k(a: torch.Tensor, k: float, *, sorted_flat: torch.Tensor | None = None) -> torch.Tensor:
    """``A >= q`` with ``q`` the per-sample ``1 - k`` quantile."""
    q = quantile(a, 1.0 - k, sorted_flat=sorted_flat)
    return (a >= _per_sample(q, a)).to(a.dtype)


def top_k_pos(a: torch.Tensor, k: float, *, sorted_pos: torch.Tensor | None = None) -> torch.Tensor:
    """Top share ``k`` of ``A+``, positive bins only (this project's ``topK_k_pos``)."""
    pos = a.clamp_min(0)
    return top_k(pos, k, sorted_flat=sorted_pos) * (pos > 0).to(a.dtype)


def top_k_pos_study(
    a: torch.Tensor, k: float, *, sorted_pos: torch.Tensor | None = None
) -> torch.Tensor:
    """``A+ >= q``, ``q`` the ``1 - k`` quantile of ``A+`` (the study's ``topK_k_pos``): all
    ones when fewer than a share ``k`` of the bins are positive."""
    return top_k(a.clamp_min(0), k, sorted_flat=sorted_pos)


class _Sorted:
    """Per-sample sorted values of ``A`` and ``A+``, each sorted once on first use (the six
    top-K masks of one map share two sorts instead of six)."""

    def __init__(self, a: torch.Tensor) -> None:
        self.a, self._flat, self._pos = a, None, None

    @property
    def flat(self) -> torch.Tensor:
        if self._flat is None:
            self._flat = self.a.reshape(self.a.shape[0], -1).sort(dim=1).values
        return self._flat

    @property
    def pos(self) -> torch.Tensor:
        if self._pos is None:  # clamp is monotone: sorting A+ is clamping sorted A
            self._pos = self.flat.clamp_min(0)
        return self._pos


def make_mask(a: torch.Tensor, name: str, *, _sorted: _Sorted | None = None) -> torch.Tensor:
    """One named mask of the attribution map ``a`` ``(B, 1, F, T)``, float in [0, 1]."""
    if name == "minmax":
        return minmax(a)
    if name == "sigmoid":
        return torch.sigmoid(a)
    if name == "bin":
        return (a > 0).to(a.dtype)
    if name == "minmax_pos":
        return minmax_pos(a)
    if name == "sigmoid_pos":
        return torch.sigmoid(a.clamp_min(0))
    if name.startswith("pos_thresh_") and name in MASK_NAMES:
        return (minmax_pos(a) >= int(name.rsplit("_", 1)[1]) / 100).to(a.dtype)
    if name.startswith("topK_") and name in ALL_MASK_NAMES:
        k = int(name.split("_")[1]) / 100
        if name.endswith("_pos_study"):
            return top_k_pos_study(a, k, sorted_pos=_sorted.pos if _sorted else None)
        if name.endswith("_pos"):
            return top_k_pos(a, k, sorted_pos=_sorted.pos if _sorted else None)
        return top_k(a, k, sorted_flat=_sorted.flat if _sorted else None)
    valid = ", ".join(ALL_MASK_NAMES)
    raise ParameterError(f"mask name {name!r} is not valid; choose among: {valid}")


def make_masks(a: torch.Tensor, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """The paper's masks of an attribution map.

    Parameters
    ----------
    a : torch.Tensor, shape (B, 1, F, T)
        Signed attributions (any float dtype; computed in float32).
    names : sequence of str, optional
        Names of :data:`ALL_MASK_NAMES`; default the 14 of :data:`MASK_NAMES` in that order.

    Returns
    -------
    dict of str to torch.Tensor, each of shape (B, 1, F, T), float32 in [0, 1]
    """
    check_tensor("attributions", a, ndim=4)
    a = a.detach().float()
    shared = _Sorted(a)
    return {
        name: make_mask(a, name, _sorted=shared)
        for name in (MASK_NAMES if names is None else names)
    }


def apply_mask(features: torch.Tensor, mask: torch.Tensor, base: float) -> torch.Tensor:
    """Masked-in features ``(X - base) * M + base``; masked-out is ``apply_mask(X, 1 - M, base)``.

    Parameters
    ----------
    features : torch.Tensor, shape (B, 1, F, T)
    mask : torch.Tensor, shape (B, 1, F, T)
        Values in [0, 1].
    base : float
        Silence floor in dB (``Frontend.floor_db``).
    """
    if features.shape != mask.shape:
        raise ParameterError(
            f"mask shape {tuple(mask.shape)} differs from features shape {tuple(features.shape)}"
        )
    if not math.isfinite(base):
        raise ParameterError(f"base must be a finite dB value, got {base!r}")
    if mask.numel():
        lo, hi = mask.aminmax()  # one pass; NaN fails both comparisons
        if not (bool(lo >= 0) and bool(hi <= 1)):
            raise ParameterError(
                f"mask values must lie in [0, 1] (and not be NaN), got [{float(lo):.3g}, "
                f"{float(hi):.3g}]; build masks with make_masks"
            )
    return (features - base) * mask.to(features.dtype) + base
