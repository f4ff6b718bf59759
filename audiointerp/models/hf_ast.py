"""Users' Hugging Face AST checkpoints (``ASTForAudioClassification``) in the model protocol.

:func:`load_hf_ast` reads a local directory written by ``save_pretrained`` (``config.json``,
``model.safetensors`` or ``pytorch_model.bin``, and ``preprocessor_config.json`` from the
feature extractor), with eager attention so that attention maps are returned, and nothing is
downloaded. :func:`~audiointerp.models.checkpoints.load_classifier` calls it for directories,
so a researcher holding e.g. the AudioSet-finetuned AST explains it with every method here.
Needs the optional extra: ``pip install -e .[hf]`` (``transformers``).

The extractor's settings map onto a :class:`~audiointerp.processing.FrontendConfig` (16 kHz,
25 ms Hann windows in a 512-point FFT, 10 ms hop, no centring, 128 HTK-scale mel bands from
20 Hz, power) producing dB features, the package's model input; :class:`HfAstClassifier`
turns them into the extractor's ``input_values`` inside the model, with differentiable steps
only, so attributions stay on the dB spectrogram:

1. Kaldi's pre-emphasis (0.97) as a fixed gain per mel band (its power response averaged
   over the band's filter: exact for a spectrum that is flat within a band);
2. the Kaldi floor (``float32`` epsilon), natural log;
3. zero-padding or truncation to ``max_length`` frames *in the log domain* (as the extractor);
4. the extractor's normalisation ``(x - mean) / (2 std)``.

What is not reproduced: per-frame DC removal, Kaldi's triangles drawn in mel rather than Hz
and its window position within the FFT frame (a 3.5 ms shift; the package's frames are one
fewer for the same audio). On a tone in noise the features differ from the real extractor's by
about 2 dB per bin on average, with no bias (``tests/test_ast_hf.py`` checks it).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiointerp.errors import CheckpointError
from audiointerp.models.base import AudioClassifier, ModelConfig
from audiointerp.models.tokens import TokenLayout
from audiointerp.processing import FrontendConfig
from audiointerp.validation import check_tensor

log = logging.getLogger(__name__)

# Kaldi / ASTFeatureExtractor constants (transformers' audio_spectrogram_transformer).
KALDI_WINDOW_S = 0.025  # frame length, 400 samples at 16 kHz
KALDI_HOP_S = 0.010  # frame shift, 160 samples at 16 kHz
KALDI_N_FFT = 512  # the window is zero-padded to the next power of two
KALDI_FMIN_HZ = 20.0
KALDI_PREEMPHASIS = 0.97
KALDI_FLOOR = float(np.finfo(np.float32).eps)  # mel energies are floored here before the log
DB_TO_LN = math.log(10.0) / 10.0
# ASTFeatureExtractor defaults (AudioSet statistics), used when the directory has no
# preprocessor_config.json.
EXTRACTOR_DEFAULTS = {
    "sampling_rate": 16000,
    "num_mel_bins": 128,
    "max_length": 1024,
    "do_normalize": True,
    "mean": -4.2677393,
    "std": 4.5689974,
}


@dataclass
class HfAstConfig(ModelConfig):
    """Where a Hugging Face AST came from (the ``config`` of its :class:`LoadedClassifier`).

    Attributes
    ----------
    path : str
        The ``save_pretrained`` directory.
    extractor : dict
        The feature extractor settings in use (``sampling_rate``, ``num_mel_bins``,
        ``max_length``, ``do_normalize``, ``mean``, ``std``).
    """

    arch: str = "hf_ast"
    path: str = ""
    extractor: dict[str, Any] | None = None


def is_hf_directory(path: str | Path) -> bool:
    """A folder holding a ``config.json`` (a ``save_pretrained`` directory)."""
    path = Path(path)
    return path.is_dir() and (path / "config.json").is_file()


def extractor_settings(path: str | Path) -> dict[str, Any]:
    """The AST feature extractor settings of a directory (defaults where it has none)."""
    path = Path(path)
    settings = dict(EXTRACTOR_DEFAULTS)
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        try:
            data = json.loads(pre.read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{pre} is not valid JSON ({exc}); save it again") from exc
        kind = data.get("feature_extractor_type", "ASTFeatureExtractor")
        if kind != "ASTFeatureExtractor":
            raise CheckpointError(
                f"{pre}: feature_extractor_type {kind!r} is not ASTFeatureExtractor; only "
                "Audio Spectrogram Transformer directories can be loaded"
            )
        settings.update({k: data[k] for k in EXTRACTOR_DEFAULTS if k in data})
    else:
        log.warning("%s has no preprocessor_config.json: AST extractor defaults are used", path)
    return settings


def frontend_config(settings: dict[str, Any]) -> FrontendConfig:
    """The package frontend closest to an AST feature extractor (dB log-mel, no centring)."""
    sr = int(settings["sampling_rate"])
    return FrontendConfig(
        kind="mel",
        log=True,
        sr=sr,
        n_fft=KALDI_N_FFT,
        win_length=round(KALDI_WINDOW_S * sr),
        hop_length=round(KALDI_HOP_S * sr),
        window="hann",
        center=False,
        n_mels=int(settings["num_mel_bins"]),
        fmin=KALDI_FMIN_HZ,
        fmax=sr / 2.0,
        power=2.0,
        mel_norm=None,
        htk=True,  # Kaldi's mel scale is 1127 ln(1 + f / 700)
    )


def preemphasis_gain_db(fb: np.ndarray, *, sr: int, n_fft: int) -> np.ndarray:
    """Per-band power gain (dB) of the pre-emphasis filter ``1 - 0.97 z^-1`` under ``fb``.

    Parameters
    ----------
    fb : np.ndarray (n_mels, 1 + n_fft // 2)
        Mel filterbank weights.
    sr, n_fft : int

    Returns
    -------
    np.ndarray (n_mels,)
    """
    omega = 2.0 * np.pi * np.arange(fb.shape[1]) / n_fft
    response = 1.0 - 2.0 * KALDI_PREEMPHASIS * np.cos(omega) + KALDI_PREEMPHASIS**2
    weight = fb.sum(axis=1)
    gain = (fb @ response) / np.where(weight > 0, weight, 1.0)
    return 10.0 * np.log10(np.where(weight > 0, gain, 1.0))


class HfAstClassifier(AudioClassifier):
    """A ``transformers`` ``ASTForAudioClassification`` on the package's dB log-mel features.

    Parameters
    ----------
    hf_model : transformers.ASTForAudioClassification
        Loaded with ``attn_implementation="eager"``.
    settings : dict
        Feature extractor settings (:func:`extractor_settings`).
    emphasis_db : np.ndarray (num_mel_bins,)
        :func:`preemphasis_gain_db` of the frontend's filterbank.

    Notes
    -----
    Gong, Chung & Glass, "AST: Audio Spectrogram Transformer", Interspeech 2021. Tokens are
    ``[CLS, distillation, patches]`` with patches frequency-major on a strided (overlapping)
    grid; the pooled output is the mean of the two special tokens.
    """

    kind = "transformer"

    def __init__(self, hf_model: nn.Module, settings: dict[str, Any], emphasis_db: np.ndarray):
        super().__init__()
        cfg = hf_model.config
        self.hf = hf_model
        self.num_classes = int(cfg.num_labels)
        self.num_bins = int(cfg.num_mel_bins)
        self.max_length = int(cfg.max_length)
        self.patch = (int(cfg.patch_size), int(cfg.patch_size))
        self.stride = (int(cfg.frequency_stride), int(cfg.time_stride))
        self.do_normalize = bool(settings["do_normalize"])
        self.mean, self.std = float(settings["mean"]), float(settings["std"])
        self.register_buffer(
            "emphasis_db", torch.as_tensor(emphasis_db, dtype=torch.float32), persistent=False
        )
        # the last layer's pre-attention norm (``encoder.layer.N`` in transformers 4, ``layers.N``
        # in 5): the tokens its attention reads, as on the package's own AST
        norms = [n for n, _ in self.named_modules() if n.endswith("layernorm_before")]
        self.gradcam_layer = norms[-1] if norms else None

    def input_values(self, features: torch.Tensor) -> torch.Tensor:
        """dB features ``(B, 1, F, T)`` -> the extractor's ``input_values`` ``(B, max_length, F)``."""
        check_tensor("features", features, shape=(None, 1, self.num_bins, None), finite=False)
        db = features[:, 0] + self.emphasis_db[:, None]  # (B, F, T)
        x = torch.clamp(db * DB_TO_LN, min=math.log(KALDI_FLOOR))  # natural log, Kaldi floor
        n = x.shape[-1]
        if n < self.max_length:  # the extractor pads with zeros in the log domain
            x = nn.functional.pad(x, (0, self.max_length - n))
        x = x[..., : self.max_length]
        if self.do_normalize:
            x = (x - self.mean) / (2.0 * self.std)
        return x.transpose(1, 2)  # (B, max_length, F)

    def _outputs(self, features: torch.Tensor, **flags: bool) -> Any:
        return self.hf(input_values=self.input_values(features), **flags)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, num_labels)``."""
        return self._outputs(features).logits

    def attend(self, features: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and each layer's attention ``(B, heads, N, N)`` from one pass."""
        out = self._outputs(features, output_attentions=True)
        if not out.attentions:  # sdpa returns none; load_hf_ast always asks for eager
            raise CheckpointError(
                "the Hugging Face AST returned no attention maps; load it with "
                "attn_implementation='eager' (load_classifier does)"
            )
        return out.logits, list(out.attentions)

    def attentions(self, features: torch.Tensor) -> list[torch.Tensor]:
        return self.attend(features)[1]

    def hidden(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each layer's patch tokens ``{"layer1": (B, D, n_freq, n_time), ...}``."""
        out = self._outputs(features, output_hidden_states=True)
        layout = self.token_layout(self.num_bins, features.shape[-1])
        return {
            f"layer{i}": layout.patch_grid(h.transpose(1, 2))
            for i, h in enumerate(out.hidden_states[1:], start=1)
        }

    def token_grid(self, n_bins: int, n_frames: int) -> tuple[int, int]:
        """HF's grid on the padded input: ``((F - p) // fs + 1, (max_length - p) // ts + 1)``."""
        (p, _), (fs, ts) = self.patch, self.stride
        return (self.num_bins - p) // fs + 1, (self.max_length - p) // ts + 1

    def token_layout(self, n_bins: int, n_frames: int) -> TokenLayout:
        """``[CLS, distillation, patches]``; patches past ``n_frames`` cover padding only."""
        return TokenLayout(
            2, self.token_grid(n_bins, n_frames), self.patch, self.stride, n_bins, n_frames
        )


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise CheckpointError(
            "loading a Hugging Face AST directory needs the optional extra: "
            "pip install -e .[hf] (transformers)"
        ) from exc
    return transformers


def load_hf_ast(path: str | Path, *, device: torch.device) -> Any:
    """Load a local ``ASTForAudioClassification`` directory as a :class:`LoadedClassifier`.

    Parameters
    ----------
    path : str or Path
        A ``save_pretrained`` directory (never downloaded: ``local_files_only``).
    device : torch.device

    Returns
    -------
    LoadedClassifier
    """
    from audiointerp.files import sha256_path
    from audiointerp.models.checkpoints import LoadedClassifier
    from audiointerp.processing import build_frontend

    path = Path(path)
    transformers = _transformers()
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: config.json cannot be read ({exc})") from exc
    if getattr(config, "model_type", None) != "audio-spectrogram-transformer":
        raise CheckpointError(
            f"{path} holds a {getattr(config, 'model_type', '?')!r} model, not an "
            "audio-spectrogram-transformer; pass an ASTForAudioClassification directory"
        )
    try:
        hf_model = transformers.ASTForAudioClassification.from_pretrained(
            path, attn_implementation="eager", local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: the weights cannot be loaded ({str(exc).splitlines()[0]}); the directory "
            "needs model.safetensors (or pytorch_model.bin) written by save_pretrained"
        ) from exc
    settings = extractor_settings(path)
    if int(settings["num_mel_bins"]) != int(config.num_mel_bins):
        raise CheckpointError(
            f"{path}: the feature extractor gives {settings['num_mel_bins']} mel bins but the "
            f"model expects {config.num_mel_bins}; save the matching preprocessor_config.json"
        )
    fc = frontend_config(settings)
    frontend = build_frontend(fc).to(device)
    fb = frontend.constants(torch.device("cpu"), torch.float32).fb.numpy().astype(np.float64)
    model = HfAstClassifier(hf_model, settings, preemphasis_gain_db(fb, sr=fc.sr, n_fft=fc.n_fft))
    labels = getattr(config, "id2label", None) or {}
    classes = [str(labels.get(i, labels.get(str(i), i))) for i in range(model.num_classes)]
    # frames = 1 + (N - n_fft) // hop without centring: the length that fills max_length
    duration_s = (fc.n_fft + (model.max_length - 1) * fc.hop_length) / fc.sr
    meta = {"source": "huggingface", "duration_s": duration_s, "extractor": settings}
    return LoadedClassifier(
        model.to(device).eval(),
        frontend,
        classes,
        HfAstConfig(path=str(path), extractor=settings),
        meta,
        path=path,
        sha256=sha256_path(path),
    )
