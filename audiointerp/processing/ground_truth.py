"""Ground-truth time-frequency masks from separated stems (target event, background).

A feature bin belongs to the class evidence when the target dominates the background there
*and* carries a meaningful part of the target's energy. The second condition matters: with a
quiet background, a target's window sidelobes and reverberation tails dominate too, yet they
are not where the event is.
"""

from __future__ import annotations

import torch

from audiointerp.errors import ParameterError
from audiointerp.processing import stft as _stft
from audiointerp.processing.frontend import Frontend
from audiointerp.validation import check_positive

__all__ = ["ideal_mask", "DEFAULT_RANGE_DB"]

# Bins more than this far below the target's loudest bin are not counted as the event: 40 dB
# keeps the body of an event (its partials and their mel neighbours) and drops the Hann
# window's sidelobes (-31 dB and falling) and faint tails.
DEFAULT_RANGE_DB = 40.0


def ideal_mask(
    frontend: Frontend,
    target: torch.Tensor,
    background: torch.Tensor,
    *,
    threshold_db: float = 0.0,
    range_db: float = DEFAULT_RANGE_DB,
) -> torch.Tensor:
    """Binary mask of where the target dominates, in the frontend's feature space.

    Parameters
    ----------
    frontend : Frontend
        Defines the feature bins (linear STFT bins or mel bands) and frames.
    target, background : torch.Tensor (B, N)
        Stems, scaled as in the mixture (``mixture == target + background``).
    threshold_db : float
        A bin is the target's when its level exceeds the background's by more than this
        (the local SNR criterion of the ideal binary mask; 0 = target louder).
    range_db : float
        ... and lies within this many dB of the clip's loudest target bin (and above the
        frontend's floor).

    Returns
    -------
    torch.Tensor (B, 1, F, T) float32
        1 where both conditions hold, 0 elsewhere.

    Notes
    -----
    Levels are the frontend's unclipped dB values (``|X| ** power`` through the mel
    filterbank for mel frontends), so the mask lives on the same grid as the model input and
    the attributions. The local criterion is the ideal binary mask of computational auditory
    scene analysis (Wang, "On ideal binary mask as the computational goal of auditory scene
    analysis", 2005).
    """
    frontend.check_wave(target, "target")
    frontend.check_wave(background, "background")
    if target.shape != background.shape:
        raise ParameterError(
            f"target {tuple(target.shape)} and background "
            f"{tuple(background.shape)} must have the same shape"
        )
    check_positive("range_db", range_db)
    if not isinstance(threshold_db, (int, float)) or threshold_db != threshold_db:
        raise ParameterError(f"threshold_db must be a number, got {threshold_db!r}")
    c = frontend.config
    levels = [
        _stft.power_to_db(frontend.spectrum(x), power=c.power, amin=c.amin, ref=1.0, top_db=None)
        for x in (target, background)
    ]
    db_t, db_b = levels
    peak = db_t.amax(dim=(1, 2), keepdim=True)
    mask = (db_t - db_b > threshold_db) & (db_t > peak - range_db) & (db_t > c.floor_db)
    return mask.unsqueeze(1).to(torch.float32)
