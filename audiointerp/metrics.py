"""Fidelity, simplicity and ground-truth metrics of interpretations (pure, batched functions).

Inputs are torch tensors or NumPy arrays with the batch first; outputs are NumPy arrays of
shape ``(B,)`` (float64). Units as in the paper: AI, AD and AG in percent; FF, FidIn and SPS in
[0, 1]; COMP in nats; SI-SDR in dB.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

from audiointerp.errors import ParameterError

_EPS = 1e-12


def _np(x: Any, name: str, ndim: int | None = None) -> np.ndarray:
    """``x`` as float64, checked: numeric, of rank ``ndim``, every value finite (one
    vectorised pass; a NaN here would otherwise surface as a silently wrong table mean)."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ParameterError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ParameterError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ParameterError(
            f"{name} holds {bad} NaN or Inf value(s) of {arr.size}; the model or the method "
            "produced non-finite numbers (check the checkpoint and the input audio)"
        )
    return arr


def _probs(x: Any, name: str) -> np.ndarray:
    arr = _np(x, name, 2)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0 + 1e-6):
        raise ParameterError(
            f"{name} must hold probabilities in [0, 1], got values in "
            f"[{arr.min():.3g}, {arr.max():.3g}]; pass softmax outputs, not logits"
        )
    return arr


def _target(target: Any, n: int, n_classes: int) -> np.ndarray:
    t = _np(target, "target", 1)
    if t.shape != (n,):
        raise ParameterError(f"target must have shape ({n},), one class per clip, got {t.shape}")
    if not np.array_equal(t, np.round(t)) or (n and (t.min() < 0 or t.max() >= n_classes)):
        raise ParameterError(
            f"target must hold class indices in [0, {n_classes}), got {np.unique(t)[:5].tolist()}"
        )
    return t.astype(np.int64)


def _flat(x: Any, name: str) -> np.ndarray:
    arr = _np(x, name)
    if arr.ndim < 2:
        raise ParameterError(f"{name} must have a batch dimension first, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], -1)


def fidelity(p: Any, p_in: Any, p_out: Any, target: Any = None) -> dict[str, np.ndarray]:
    """Fidelity of masked-in / masked-out inputs to the original prediction.

    Parameters
    ----------
    p, p_in, p_out : array-like, shape (B, C)
        Class probabilities of the original, masked-in and masked-out inputs.
    target : array-like of int, shape (B,), optional
        Class ``c``; default the class predicted on the original input.

    Returns
    -------
    dict of str to np.ndarray of shape (B,)
        ``FF = p[c] - p_out[c]``; ``AI = 100 [p_in[c] > p[c]]``;
        ``AD = 100 max(0, p[c] - p_in[c]) / p[c]``;
        ``AG = 100 max(0, p_in[c] - p[c]) / (1 - p[c])`` (0 when ``p[c] = 1``: nothing to gain);
        ``FidIn = [argmax p_in = c]``.
    """
    p, p_in, p_out = (_probs(v, n) for v, n in ((p, "p"), (p_in, "p_in"), (p_out, "p_out")))
    if not p.shape == p_in.shape == p_out.shape:
        raise ParameterError(
            f"p, p_in, p_out shapes differ: {p.shape}, {p_in.shape}, {p_out.shape}"
        )
    c = p.argmax(1) if target is None else _target(target, p.shape[0], p.shape[1])
    rows = np.arange(p.shape[0])
    pc, pin, pout = p[rows, c], p_in[rows, c], p_out[rows, c]
    gain_room = 1.0 - pc
    return {
        "FF": pc - pout,
        "AI": 100.0 * (pin > pc),
        "AD": 100.0 * np.maximum(0.0, pc - pin) / np.maximum(pc, _EPS),
        "AG": np.where(
            gain_room > 0, 100.0 * np.maximum(0.0, pin - pc) / np.maximum(gain_room, _EPS), 0.0
        ),
        "FidIn": (p_in.argmax(1) == c).astype(np.float64),
    }


def _abs_normalised(m: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.abs(_flat(m, name))
    top = a.max(1)
    constant = top == a.min(1)
    return a / np.maximum(top[:, None], _EPS), constant, top == 0


def sparseness(m: Any) -> np.ndarray:
    """Gini index of ``|M|`` scaled by its maximum (Chalasani et al. 2020), per sample.

    Equals ``quantus.Sparseness(abs=True, normalise=True)`` (including its ``+1e-7``): a
    constant map gets 0. An all-zero map (an empty mask) has no distribution to measure and
    gets NaN, as the reference recipe skips all-zero maps.

    Parameters
    ----------
    m : array-like, shape (B, ...)

    Returns
    -------
    np.ndarray, shape (B,), in [0, 1], NaN for all-zero maps
    """
    a, constant, empty = _abs_normalised(m, "mask")
    a = np.sort(a + 1e-7, axis=1)
    n = a.shape[1]
    ranks = 2 * np.arange(1, n + 1) - n - 1
    score = (ranks * a).sum(1) / (n * a.sum(1))
    return np.where(empty, np.nan, np.where(constant, 0.0, score))


def complexity(m: Any) -> np.ndarray:
    """Entropy (nats) of ``|M|`` normalised to sum 1 (Bhatt et al. 2020), per sample.

    Equals ``quantus.Complexity(abs=True, normalise=True)``: a constant map gets the maximum
    ``ln N``. An all-zero map (an empty mask) is undefined (0/0) and gets NaN, as the
    reference recipe skips all-zero maps.

    Parameters
    ----------
    m : array-like, shape (B, ...)

    Returns
    -------
    np.ndarray, shape (B,), NaN for all-zero maps
    """
    a, _, empty = _abs_normalised(m, "mask")
    frac = a / np.maximum(a.sum(1, keepdims=True), _EPS)
    score = -(frac * np.log(frac + 1e-12)).sum(1)
    return np.where(empty, np.nan, score)


#: Standard deviation over bins below which a mask is flagged as (near-)constant: a sigmoid of
#: a tiny map (0.498-0.504 everywhere) or a binary mask with a single differing bin in 20,000
#: is the absence of an explanation, however well it scores.
DEGENERATE_STD = 0.01


def mask_spread(m: Any) -> np.ndarray:
    """Standard deviation of each mask's values over its bins, ``(B,)`` (0 for a constant mask)."""
    return _flat(m, "mask").std(axis=1)


def degenerate(m: Any, *, tol: float = DEGENERATE_STD) -> np.ndarray:
    """Whether each mask is constant or near-constant (spread below ``tol``), ``(B,)`` bool.

    An all-ones mask gives ``p_in = p`` (AD 0, FidIn 1), an all-zero mask the empty input;
    a near-constant one is scale-invariant noise for SI-SDR. Such masks are flagged so tables
    can count them and never rank them best.
    """
    return mask_spread(m) < float(tol)


def _check_gt(a: np.ndarray, gt: np.ndarray) -> np.ndarray:
    if a.shape != gt.shape:
        raise ParameterError(f"ground-truth mask shape {gt.shape} differs from map shape {a.shape}")
    return gt > 0.5


def localization_auc(a: Any, gt: Any, *, order: np.ndarray | None = None) -> np.ndarray:
    """Area under the ROC curve of ``|A|`` as a detector of the true mask's bins, per clip.

    Rank formula (Mann-Whitney U with average ranks for ties), equal to
    ``sklearn.metrics.roc_auc_score(gt, |A|)``. A mask with a single class (all in or all out)
    gets 0.5, the value of an uninformative map.

    Parameters
    ----------
    a : array-like, shape (B, 1, F, T)
        Attributions.
    gt : array-like, shape (B, 1, F, T)
        True mask in {0, 1}.
    order : np.ndarray (B, F*T) of int, optional
        Per row, a permutation of the bins that may sort ``|A|`` (e.g. the attribution's own
        order, which sorts every mask that is a monotone function of it: ``minmax``,
        ``sigmoid`` and their ``_pos`` forms). Where it does, U is counted over the runs of
        equal values, without a sort; elsewhere the rank formula runs. The same U either way.

    Returns
    -------
    np.ndarray, shape (B,), in [0, 1]
    """
    score = np.abs(_flat(a, "attributions"))
    truth = _check_gt(score, _flat(gt, "gt"))
    n_pos = truth.sum(1)
    n_neg = truth.shape[1] - n_pos
    binary = ((score == 0.0) | (score == 1.0)).all(1)
    u = np.empty(score.shape[0])
    if binary.any():
        # A binary mask (10 of the 14) has two ranks: U from the 2x2 counts, no sort; the
        # same integer (or half-integer) U as the rank formula, so the same float result.
        s, t = score[binary] == 1.0, truth[binary]
        tp, fp = (s & t).sum(1), (s & ~t).sum(1)
        fn, tn = n_pos[binary] - tp, n_neg[binary] - fp
        u[binary] = tp * tn + 0.5 * (tp * fp + fn * tn)
    rest = ~binary
    if order is not None and rest.any():
        for i in np.flatnonzero(rest):
            sorted_u = _sorted_u(score[i], truth[i], np.asarray(order[i]))
            if sorted_u is not None:
                u[i], rest[i] = sorted_u, False
    if rest.any():
        ranks = rankdata(score[rest], axis=1)
        u[rest] = (ranks * truth[rest]).sum(1) - n_pos[rest] * (n_pos[rest] + 1) / 2
    defined = (n_pos > 0) & (n_neg > 0)
    return np.where(defined, u / np.maximum(n_pos * n_neg, 1), 0.5)


def _sorted_u(score: np.ndarray, truth: np.ndarray, order: np.ndarray) -> float | None:
    """Mann-Whitney U of ``score`` (positives: ``truth``) when ``order`` sorts it, else None.

    Each run of equal values counts its positives times the negatives below it plus half the
    negatives in it; whole and half counts are exact in float64, so U equals the rank
    formula's bit for bit.
    """
    s = score[order]
    step = np.diff(s)
    if (step < 0).any() or np.isnan(s).any():
        return None
    t = truth[order]
    starts = np.flatnonzero(np.concatenate(([True], step != 0)))
    pos = np.add.reduceat(t.astype(np.float64), starts)
    neg = np.diff(np.append(starts, s.size)) - pos
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum())


def relevance_mass(a: Any, gt: Any) -> np.ndarray:
    """Relevance mass accuracy: share of the positive attribution inside the true mask.

    Computed on the attribution map itself (Arras et al. 2022), not on a mask built from it:
    ``sum(A+ * G) / sum(A+)``.

    Parameters
    ----------
    a, gt : array-like, shape (B, 1, F, T)
        Attributions (signed) and the true mask in {0, 1}.

    Returns
    -------
    np.ndarray, shape (B,), in [0, 1]; NaN when the map has no positive value (undefined).

    Notes
    -----
    Arras, Osman & Samek, "CLEVR-XAI: a benchmark dataset for the ground truth evaluation of
    neural network explanations", Information Fusion 2022.
    """
    pos = np.maximum(_flat(a, "attributions"), 0.0)
    truth = _check_gt(pos, _flat(gt, "gt"))
    total = pos.sum(1)
    return np.where(total > 0, (pos * truth).sum(1) / np.maximum(total, _EPS), np.nan)


def si_sdr(est: Any, ref: Any) -> np.ndarray:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019), per row.

    Parameters
    ----------
    est : array-like, shape (B, N) or (K, B, N)
        Estimate waveforms; with a leading ``K``, ``K`` estimates of each reference row.
    ref : array-like, shape (B, N)
        Reference waveforms.

    Returns
    -------
    np.ndarray, shape (B,) or (K, B)
        ``10 log10(|s|^2 / |est - s|^2)`` with ``s = <est, ref> ref / |ref|^2``; a silent
        reference or estimate gives a very low finite value (the energies are floored at 1e-12).

    Notes
    -----
    From three inner products in float64, ``|s|^2 = <est, ref>^2 / |ref|^2`` and
    ``|est - s|^2 = |est|^2 - |s|^2``, without the projection and residual arrays; the
    residual's relative rounding is ``1e-16 |est|^2 / |est - s|^2``,
    below 1e-6 dB up to 100 dB.
    """
    est, ref = _np(est, "est"), _np(ref, "ref", 2)
    if est.ndim not in (2, 3) or est.shape[-2:] != ref.shape:
        raise ParameterError(
            f"est shape {est.shape} differs from ref shape {ref.shape}: est must be (B, N) "
            "like ref, or (K, B, N) for K estimates of each reference"
        )
    # products summed row by row (not einsum/BLAS, whose rounding depends on the batch shape):
    # a clip's value is the same alone as in any batch
    rr = (ref * ref).sum(-1)
    er = (est * ref).sum(-1)
    ee = (est * est).sum(-1)
    proj = er**2 / np.maximum(rr, _EPS)
    noise = ee - proj
    return 10 * np.log10(np.maximum(proj, _EPS) / np.maximum(noise, _EPS))


def si_sdri(est: Any, mixture: Any, ref: Any) -> np.ndarray:
    """SI-SDR improvement (dB) of ``est`` over the input ``mixture``, both against ``ref``."""
    return si_sdr(est, ref) - si_sdr(mixture, ref)
