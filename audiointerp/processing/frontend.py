"""Spectrogram frontends: waveform batches to model features, and the bundle inversion needs.

A :class:`Frontend` is built once from a :class:`FrontendConfig` and applied to ``(B, N)``
waveform tensors on any device; its constants (window, mel filterbank, mask map) are built
once and cached per device and dtype, so the per-batch cost is one STFT, one matrix product
and a logarithm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import librosa
import numpy as np
import torch

from audiointerp.errors import ParameterError
from audiointerp.processing import inversion, mel
from audiointerp.processing import stft as _stft
from audiointerp.processing.config import FrontendConfig
from audiointerp.validation import check_tensor

__all__ = ["Frontend", "Spectrogram", "build_frontend"]

Route = Literal["phase", "paper", "paper_nnls", "griffinlim"]


@dataclass(frozen=True, eq=False)
class Spectrogram:
    """What :meth:`Frontend.analyze` returns: the model input and what inversion needs.

    Attributes
    ----------
    features : torch.Tensor (B, 1, F, T)
        Model input (dB if ``config.log``, clipped to ``[floor_db, ...]`` and ``top_db``).
    db : torch.Tensor (B, 1, F, T)
        The same values in dB before the ``top_db`` / floor clipping.
    stft : torch.Tensor (B, K, T) complex
        Linear-frequency STFT, ``K = 1 + n_fft // 2``.
    mag : torch.Tensor (B, K, T)
        ``|stft|``.
    length : int
        Samples in the analysed waveforms.
    sr : int
        Sample rate in Hz.
    config : FrontendConfig
        The frontend that produced it.
    """

    features: torch.Tensor
    db: torch.Tensor
    stft: torch.Tensor
    mag: torch.Tensor
    length: int
    sr: int
    config: FrontendConfig = field(repr=False)

    @property
    def phase(self) -> torch.Tensor:
        """Phase of the STFT in radians, ``(B, K, T)``."""
        return torch.angle(self.stft)

    @property
    def batch_size(self) -> int:
        return self.features.shape[0]

    @property
    def n_frames(self) -> int:
        return self.features.shape[-1]

    def take(self, index: int | slice | list[int] | torch.Tensor) -> Spectrogram:
        """Sub-batch ``index`` (an int keeps the batch axis)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Spectrogram(
            self.features[index],
            self.db[index],
            self.stft[index],
            self.mag[index],
            self.length,
            self.sr,
            self.config,
        )


@dataclass
class _Constants:
    window: torch.Tensor  # (win_length,)
    fb: torch.Tensor | None  # (n_mels, K) mel filterbank
    mask_map: torch.Tensor | None  # (K, n_mels) mel mask -> linear-bin mask
    fb_pinv: torch.Tensor | None  # (K, n_mels) pseudo-inverse of fb


class Frontend:
    """STFT, log-STFT, mel or log-mel analysis with its inverses.

    Parameters
    ----------
    config : FrontendConfig

    Notes
    -----
    The mel filterbank is :func:`librosa.filters.mel` (Slaney scale and area normalisation by
    default, HTK scale with ``htk=True``), so features equal librosa's
    ``power_to_db(melspectrogram(...))`` with the same parameters.
    """

    def __init__(self, config: FrontendConfig) -> None:
        if not isinstance(config, FrontendConfig):
            raise ParameterError(f"config must be a FrontendConfig, got {type(config).__name__}")
        self.config = config
        self.device = torch.device("cpu")
        c = config
        self._fb_np: np.ndarray | None = None
        self._map_np: np.ndarray | None = None
        self._pinv_np: np.ndarray | None = None
        self.fb_lipschitz: float | None = None
        if c.kind == "mel":
            self._fb_np = mel.mel_filterbank(
                sr=c.sr,
                n_fft=c.n_fft,
                n_mels=c.n_mels,
                fmin=c.fmin,
                fmax=c.fmax,
                htk=c.htk,
                norm=c.mel_norm,
            )
            self._map_np = mel.mask_map(
                self._fb_np, sr=c.sr, n_fft=c.n_fft, fmin=c.fmin, fmax=c.fmax, htk=c.htk
            )
            self._pinv_np, self.fb_lipschitz = mel.pseudo_inverse(self._fb_np)
        try:  # periodic window, librosa's values for any name librosa accepts
            window = librosa.filters.get_window(c.window, c.win_length, fftbins=True)
        except Exception as exc:  # librosa and scipy raise several types for a bad name
            raise ParameterError(
                f"FrontendConfig.window={c.window!r} is not a window "
                f"scipy.signal.get_window knows ({exc})"
            ) from exc
        self._window_np = np.asarray(window, dtype=np.float64)
        self._cache: dict[tuple[torch.device, torch.dtype], _Constants] = {}

    def __repr__(self) -> str:
        return f"Frontend({self.config!r})"

    # ------------------------------------------------------------------ properties
    @property
    def sr(self) -> int:
        return self.config.sr

    @property
    def n_bins(self) -> int:
        """Feature rows ``F``."""
        return self.config.n_bins

    @property
    def n_fft_bins(self) -> int:
        """Linear STFT bins ``K = 1 + n_fft // 2``."""
        return self.config.n_fft // 2 + 1

    @property
    def floor_db(self) -> float:
        """Value of silence in feature units, the masking base: ``floor_db`` for dB features,
        0 for linear ones."""
        return float(self.config.floor_db) if self.config.log else 0.0

    def to(self, device: torch.device | str) -> Frontend:
        """Build the constants on ``device`` now; returns ``self``.

        Calls work on whatever device their input is on; this only warms the cache and sets
        :attr:`device` (the device of waveforms the frontend creates itself).
        """
        self.device = torch.device(device)
        self.constants(self.device, torch.float32)
        return self

    def constants(self, device: torch.device, dtype: torch.dtype) -> _Constants:
        """Window, filterbank and mask map on ``device`` in ``dtype`` (built once, cached)."""
        key = (torch.device(device), dtype)
        if key not in self._cache:

            def t(a):
                return None if a is None else torch.as_tensor(a, dtype=dtype, device=device)

            # Normal tensors even when first called under torch.inference_mode(): inference
            # tensors in the cache would break every later call that autograd records.
            with torch.inference_mode(False):
                self._cache[key] = _Constants(
                    t(self._window_np), t(self._fb_np), t(self._map_np), t(self._pinv_np)
                )
        return self._cache[key]

    def n_frames(self, length: int) -> int:
        """Frames ``T`` for a waveform of ``length`` samples."""
        c = self.config
        return _stft.n_frames(length, hop_length=c.hop_length, n_fft=c.n_fft, center=c.center)

    def bin_frequencies_hz(self) -> np.ndarray:
        """Frequency of each feature row in Hz (bin centres, or mel band centres), ``(F,)``."""
        c = self.config
        if c.kind == "mel":
            return mel.band_centers_hz(n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, htk=c.htk)
        return librosa.fft_frequencies(sr=c.sr, n_fft=c.n_fft)

    def band_edges_hz(self) -> np.ndarray:
        """Boundaries between feature rows in Hz, ``(F + 1,)``, from 0 to Nyquist.

        For STFT frontends, midway between bin centres; for mel, midway between band centres
        (see :func:`audiointerp.processing.mel.band_edges_hz`).
        """
        c = self.config
        if c.kind == "mel":
            return mel.band_edges_hz(sr=c.sr, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, htk=c.htk)
        step = c.sr / c.n_fft
        edges = (np.arange(self.n_fft_bins + 1) - 0.5) * step
        return np.clip(edges, 0.0, c.sr / 2.0)

    def frame_times_s(self, n_frames: int) -> np.ndarray:
        """Time of each frame's centre in seconds, ``(n_frames,)``."""
        c = self.config
        offset = 0 if c.center else c.n_fft // 2
        return (np.arange(n_frames) * c.hop_length + offset) / c.sr

    # ------------------------------------------------------------------ analysis
    def check_wave(self, wave: torch.Tensor, name: str = "wave") -> torch.Tensor:
        """Validate a ``(B, N)`` float32/float64 waveform batch; returns it unchanged."""
        check_tensor(name, wave, ndim=2)
        if wave.dtype not in (torch.float32, torch.float64):
            raise ParameterError(f"{name} must be float32 or float64, got {wave.dtype}")
        if wave.shape[0] == 0:
            raise ParameterError(f"{name} is an empty batch, shape {tuple(wave.shape)}")
        if wave.shape[1] < self.config.n_fft:
            raise ParameterError(
                f"{name} has {wave.shape[1]} samples, fewer than n_fft={self.config.n_fft}; "
                "pass longer clips or a smaller n_fft"
            )
        return wave

    def stft(self, wave: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``(B, K, T)`` of a checked waveform batch."""
        c = self.config
        k = self.constants(wave.device, wave.dtype)
        return _stft.stft(
            wave,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            win_length=c.win_length,
            window=k.window,
            center=c.center,
            pad_mode=c.pad_mode,
        )

    def istft(self, D: torch.Tensor, length: int) -> torch.Tensor:
        """Waveforms ``(B, length)`` from a complex STFT ``(B, K, T)``."""
        c = self.config
        k = self.constants(D.device, D.real.dtype)
        return _stft.istft(
            D,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            win_length=c.win_length,
            window=k.window,
            center=c.center,
            length=length,
        )

    def spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """Linear features ``|X| ** power`` (through the mel filterbank for mel), ``(B, F, T)``."""
        self.check_wave(wave)
        return self._spectrum(self.stft(wave))

    def _spectrum(self, D: torch.Tensor) -> torch.Tensor:
        """``|D| ** power``, through the mel filterbank for mel frontends: ``(B, F, T)``."""
        c = self.config
        # |D|^2 from real and imaginary parts skips a square root in the common case.
        S = D.real.square() + D.imag.square()
        if c.power != 2.0:
            S = S.pow(c.power / 2.0)
        if c.kind == "mel":
            S = self.constants(D.device, S.dtype).fb @ S
        return S

    def _to_features(self, S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        db = _stft.power_to_db(S, power=c.power, amin=c.amin, ref=c.ref, top_db=None)
        if not c.log:
            return S, db
        feats = db
        if c.top_db is not None:
            peak = db.amax(dim=(1, 2), keepdim=True)
            feats = torch.maximum(feats, peak - c.top_db)
        return torch.clamp(feats, min=c.floor_db), db

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """Model input for a waveform batch (fast path, no phase kept).

        Parameters
        ----------
        wave : torch.Tensor (B, N) float32 or float64

        Returns
        -------
        torch.Tensor (B, 1, F, T), on ``wave``'s device and dtype
        """
        self.check_wave(wave)
        S = self._spectrum(self.stft(wave))
        if not self.config.log:
            return S.unsqueeze(1)
        return self._to_features(S)[0].unsqueeze(1)

    def analyze(self, wave: torch.Tensor) -> Spectrogram:
        """Features plus everything inversion needs.

        Parameters
        ----------
        wave : torch.Tensor (B, N) float32 or float64

        Returns
        -------
        Spectrogram
        """
        self.check_wave(wave)
        D = self.stft(wave)
        feats, db = self._to_features(self._spectrum(D))
        return Spectrogram(
            features=feats.unsqueeze(1),
            db=db.unsqueeze(1),
            stft=D,
            mag=D.abs(),
            length=wave.shape[1],
            sr=self.config.sr,
            config=self.config,
        )

    def check_spectrogram(self, spec: Spectrogram, name: str = "spec") -> Spectrogram:
        """Reject a bundle this frontend did not make (other sample rate or parameters)."""
        if not isinstance(spec, Spectrogram):
            raise ParameterError(
                f"{name} must be a Spectrogram from Frontend.analyze, got {type(spec).__name__}"
            )
        if spec.sr != self.config.sr:
            raise ParameterError(
                f"{name} was analysed at {spec.sr} Hz but this frontend runs at "
                f"{self.config.sr} Hz; analyse the audio with this frontend"
            )
        if spec.config != self.config:
            raise ParameterError(
                f"{name} comes from a different frontend ({spec.config.name}, n_fft="
                f"{spec.config.n_fft}, hop={spec.config.hop_length}) than this one "
                f"({self.config.name}, n_fft={self.config.n_fft}, hop="
                f"{self.config.hop_length}); analyse the audio with this frontend"
            )
        check_tensor(f"{name}.features", spec.features, shape=(None, 1, self.n_bins, None))
        return spec

    # ------------------------------------------------------------------ inversion
    def resynthesize(
        self, spec: Spectrogram, mask: torch.Tensor, *, route: Route = "phase", **options
    ) -> torch.Tensor:
        """Audio for a feature-space mask; see :func:`audiointerp.processing.inversion.resynthesize`."""
        return inversion.resynthesize(self, spec, mask, route=route, **options)

    def resynthesize_stack(
        self, spec: Spectrogram, masks: torch.Tensor, *, route: Route = "phase", **options
    ) -> torch.Tensor:
        """Audio for ``K`` masks per clip, ``(K, B, 1, F, T) -> (K, B, N)``; see
        :func:`audiointerp.processing.inversion.resynthesize_stack`."""
        return inversion.resynthesize_stack(self, spec, masks, route=route, **options)

    def rect_audio(
        self, spec: Spectrogram, *, freq_bins: tuple[int, int], frames: tuple[int, int]
    ) -> torch.Tensor:
        """Audio of one time-frequency rectangle; see :func:`audiointerp.processing.inversion.rect_audio`."""
        return inversion.rect_audio(self, spec, freq_bins=freq_bins, frames=frames)


def build_frontend(config: FrontendConfig | dict) -> Frontend:
    """Build a :class:`Frontend` from a config (or a dict of its fields, as read from YAML)."""
    if isinstance(config, dict):
        from audiointerp.config import from_dict

        config = from_dict(FrontendConfig, config, where="frontend")
    return Frontend(config)
