"""How a learned mask meets the model: the core's masking rule, the papers' linear rule, and the
compressed magnitude representation NMF and L-MAC FT's guidance work on.

Every learned interpreter here produces its mask on the classifier's own feature grid
``(B, 1, F, T)`` (mel bands for a mel model, STFT bins for an STFT model), which is the grid
the explain-and-score core scores every method on, so no mask is resampled for scoring.

Two masking rules:

``"features"`` (the core's rule, :func:`audiointerp.interpretation.masks.apply_mask`)
    ``(X - floor) * M + floor`` on the dB features: what every method is scored with.
``"linear"`` (L-MAC's and PIQ's papers)
    The mask multiplies the **linear STFT magnitude**: carried to linear bins (identity for
    STFT models, the row-normalised filterbank map of :func:`audiointerp.processing.inversion.
    linear_mask` for mel ones, the carry the core's audio uses), ``|X| * M_lin``, and the
    features are recomputed (filterbank, dB, floor).

For a binary mask the two rules give the same features: a kept bin is unchanged and a removed
bin reaches the floor either way (``amin`` is the floor's power). For mel models this holds
exactly on bands whose neighbours have the same mask value (a linear bin under a band's
triangle is covered by it and its two neighbours only). Soft masks differ: the core
interpolates levels in dB (``M = 0.5`` halves a bin's height above the floor), the linear rule
scales magnitudes (``M = 0.5`` is -6 dB). Interpreters fitted with ``masking: linear`` are
therefore scored, like every method, by the core's rule; ``masking: features`` (the default)
trains with the rule they are scored by.
"""

from __future__ import annotations

from typing import Literal

import torch

from audiointerp.interpretation.masks import apply_mask
from audiointerp.processing import stft as _stft
from audiointerp.processing.inversion import linear_mask
from audiointerp.validation import check_choice

Masking = Literal["features", "linear"]
MASKINGS = ("features", "linear")


def features_from_power(frontend, S: torch.Tensor) -> torch.Tensor:
    """The frontend's features ``(B, 1, F, T)`` from linear-bin power ``S`` ``(B, K, T)``.

    The same path as :meth:`Frontend.features` after the STFT (filterbank for mel, dB with the
    config's ``amin``/``ref``, ``top_db`` and floor), differentiable in ``S``.
    """
    c = frontend.config
    S = S.pow(c.power / 2.0) if c.power != 2.0 else S  # |X| ** power, as Frontend._spectrum
    if c.kind == "mel":
        S = frontend.constants(S.device, S.dtype).fb @ S
    if not c.log:
        return S.unsqueeze(1)
    db = _stft.power_to_db(S, power=c.power, amin=c.amin, ref=c.ref, top_db=None)
    if c.top_db is not None:
        db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - c.top_db)
    return torch.clamp(db, min=c.floor_db).unsqueeze(1)


def masked_pair(
    frontend,
    features: torch.Tensor,
    mask: torch.Tensor,
    *,
    masking: Masking = "features",
    power: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked-in and masked-out features of ``mask`` under a masking rule (differentiable).

    Parameters
    ----------
    frontend : Frontend
        The classifier's frontend.
    features : torch.Tensor (B, 1, F, T)
        The clips' features.
    mask : torch.Tensor (B, 1, F, T)
        Values in [0, 1] on the feature grid.
    masking : {"features", "linear"}
        See the module docstring.
    power : torch.Tensor (B, K, T), optional
        Linear-bin power ``|X|^2`` of the clips (``"linear"`` only).

    Returns
    -------
    x_in, x_out : torch.Tensor (B, 1, F, T)
    """
    check_choice("masking", masking, MASKINGS)
    base = frontend.floor_db
    if masking == "features":
        return apply_mask(features, mask, base), apply_mask(features, 1.0 - mask, base)
    m_lin = linear_mask(frontend, mask)  # (B, K, T); magnitudes scale by m, power by m^2
    return (
        features_from_power(frontend, power * m_lin.square()),
        features_from_power(frontend, power * (1.0 - m_lin).square()),
    )


def compressed(features: torch.Tensor, ref_db: float | torch.Tensor) -> torch.Tensor:
    """``log1p(|X| / ref)`` of dB features: the log-compressed magnitude L2I and L-MAC work on.

    ``|X| / ref = 10 ** ((X - ref_db) / 20)``; with ``ref_db`` a typical level of the training
    features (their median), quiet bins map near 0 and loud ones grow logarithmically, the
    non-negative, sparse representation NMF needs (dB above the floor would not do: every bin
    of a noisy clip is far above it).
    """
    return torch.log1p(torch.pow(10.0, (features - ref_db) / 20.0))
