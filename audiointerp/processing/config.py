"""``FrontendConfig``: every parameter of a spectrogram frontend, validated on construction.

Field names follow librosa's vocabulary. Defaults are the embedded benchmark's log-mel
frontend (16 kHz, 32 ms windows, 16 ms hop, 64 Slaney mel bands over 50-8000 Hz, power
spectrogram in dB with a -100 dB floor); :meth:`FrontendConfig.paper_esc50` gives the
reproduced study's ESC-50 setting exactly (its STFT model at 16 kHz, its torchaudio
filterbank and padding).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice, check_positive

__all__ = ["FrontendConfig", "FRONTEND_KINDS"]

FRONTEND_KINDS = ("stft", "mel")
PAD_MODES = ("constant", "reflect", "replicate", "circular")
MEL_NORMS = ("slaney", None)


@dataclass(frozen=True)
class FrontendConfig:
    """Spectrogram frontend parameters.

    Attributes
    ----------
    kind : {"stft", "mel"}
        Linear-frequency STFT bins (``F = 1 + n_fft // 2``) or mel bands (``F = n_mels``).
    log : bool
        Features in dB (log-STFT, log-mel) rather than linear ``|X| ** power``.
    sr : int
        Sample rate in Hz the frontend expects.
    n_fft, win_length, hop_length : int
        FFT size, window length and hop, in samples (``win_length <= n_fft``; ``None``
        for ``win_length`` means ``n_fft``).
    window : str
        Any window name :func:`librosa.filters.get_window` accepts (periodic).
    center : bool
        Pad so that frame ``t`` is centred at sample ``t * hop_length``.
    pad_mode : {"constant", "reflect", "replicate", "circular"}
        Padding used when ``center`` ("constant" = zeros, librosa's default).
    n_mels : int
        Mel bands (mel frontends only).
    fmin, fmax : float
        Mel band range in Hz; ``fmax=None`` means Nyquist (mel frontends only; ignored and
        not checked against ``sr`` for STFT frontends).
    power : float
        Exponent of the magnitude: 2 = power spectrogram, 1 = magnitude.
    amin : float
        Smallest value of ``|X| ** power`` before the logarithm.
    ref : float
        Reference value in units of ``|X| ** power``: 0 dB.
    top_db : float or None
        If set, clip each clip's dB features to ``max - top_db``.
    floor_db : float
        Silence floor in dB, the masking base; dB features are clipped below at this value.
        With ``amin=1e-10``, ``ref=1`` and ``power=2`` this clip never changes a value.
    mel_norm : {"slaney", None}
        Filterbank normalisation (Slaney: unit-area triangles; None: unit-peak).
    htk : bool
        HTK mel scale instead of Slaney's.
    """

    kind: Literal["stft", "mel"] = "mel"
    log: bool = True
    sr: int = 16000
    n_fft: int = 512
    win_length: int | None = 512
    hop_length: int = 256
    window: str = "hann"
    center: bool = True
    pad_mode: Literal["constant", "reflect", "replicate", "circular"] = "constant"
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float | None = 8000.0
    power: float = 2.0
    amin: float = 1e-10
    ref: float = 1.0
    top_db: float | None = None
    floor_db: float = -100.0
    mel_norm: Literal["slaney"] | None = "slaney"
    htk: bool = False

    def __post_init__(self) -> None:
        check_choice("FrontendConfig.kind", self.kind, FRONTEND_KINDS)
        check_choice("FrontendConfig.pad_mode", self.pad_mode, PAD_MODES)
        check_choice("FrontendConfig.mel_norm", self.mel_norm, MEL_NORMS)
        for name in ("log", "center", "htk"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(
                    f"FrontendConfig.{name} must be true or false, got {getattr(self, name)!r}"
                )
        for name in ("sr", "n_fft", "hop_length", "n_mels"):
            _check_int(name, getattr(self, name))
        if self.win_length is None:
            object.__setattr__(self, "win_length", self.n_fft)
        _check_int("win_length", self.win_length)
        if self.win_length > self.n_fft:
            raise ParameterError(
                f"FrontendConfig.win_length={self.win_length} exceeds "
                f"n_fft={self.n_fft}; use win_length <= n_fft"
            )
        for name in ("power", "amin", "ref"):
            check_positive(f"FrontendConfig.{name}", getattr(self, name))
        if self.top_db is not None:
            check_positive("FrontendConfig.top_db", self.top_db)
        if not math.isfinite(self.floor_db):
            raise ParameterError(f"FrontendConfig.floor_db must be finite, got {self.floor_db!r}")
        nyquist = self.sr / 2.0
        if self.fmax is None:
            object.__setattr__(self, "fmax", nyquist)
        check_positive("FrontendConfig.fmin", self.fmin, allow_zero=True)
        if self.kind == "mel" and not self.fmin < self.fmax <= nyquist:
            raise ParameterError(
                f"FrontendConfig needs 0 <= fmin < fmax <= sr / 2 = {nyquist:g} Hz, got "
                f"fmin={self.fmin!r}, fmax={self.fmax!r}"
            )

    @property
    def n_bins(self) -> int:
        """Feature rows ``F``: ``n_mels`` for mel frontends, ``1 + n_fft // 2`` for STFT."""
        return self.n_mels if self.kind == "mel" else self.n_fft // 2 + 1

    @property
    def name(self) -> str:
        """Short human name: "log-mel", "mel", "log-stft" or "stft"."""
        return ("log-" if self.log else "") + self.kind

    def replace(self, **changes) -> FrontendConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def paper_esc50(cls, kind: Literal["stft", "mel"] = "mel") -> FrontendConfig:
        """The reproduced study's ESC-50 setting, as its code ran it (torchaudio defaults).

        Mel: 32 kHz, n_fft = window = 1024, hop 320, 64 mel bands over 50-14000 Hz. STFT:
        16 kHz, n_fft = window = 512, hop 256 (257 bins). Both: power spectrogram in dB, no
        ``top_db``, reflect padding, HTK mel scale with unit-peak (not unit-area) triangles.
        """
        sr, n_fft, hop = (32000, 1024, 320) if kind == "mel" else (16000, 512, 256)
        return cls(
            kind=kind,
            log=True,
            sr=sr,
            n_fft=n_fft,
            win_length=n_fft,
            hop_length=hop,
            pad_mode="reflect",
            n_mels=64,
            fmin=50.0,
            fmax=14000.0 if kind == "mel" else 8000.0,
            power=2.0,
            top_db=None,
            mel_norm=None,
            htk=True,
        )


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"FrontendConfig.{name} must be a positive integer, got {value!r}")
