"""Spectrogram frontends (STFT, log-STFT, mel, log-mel) and their listenable inverses.

``build_frontend(FrontendConfig(...))`` gives a :class:`Frontend` whose ``features(wave)`` is
the model input ``(B, 1, F, T)`` and whose ``analyze(wave)`` also keeps what inversion needs;
``resynthesize(spec, mask, route=...)`` turns a feature-space mask into audio,
``rect_audio`` plays one time-frequency rectangle, and
:func:`~audiointerp.processing.ground_truth.ideal_mask` gives the ground-truth mask of a
target stem over its background.
"""

from audiointerp.processing.config import FRONTEND_KINDS, FrontendConfig
from audiointerp.processing.frontend import Frontend, Spectrogram, build_frontend
from audiointerp.processing.ground_truth import ideal_mask
from audiointerp.processing.inversion import (
    ROUTES,
    griffinlim,
    linear_mask,
    rect_audio,
    snr_db,
    spectral_convergence,
)

__all__ = [
    "FRONTEND_KINDS",
    "ROUTES",
    "Frontend",
    "FrontendConfig",
    "Spectrogram",
    "build_frontend",
    "griffinlim",
    "ideal_mask",
    "linear_mask",
    "rect_audio",
    "snr_db",
    "spectral_convergence",
]
