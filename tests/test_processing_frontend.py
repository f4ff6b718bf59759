"""Frontends: librosa equivalence, shapes, conventions, bad input."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import soxr
import torch

from audiointerp.config import from_dict
from audiointerp.errors import ParameterError
from audiointerp.processing import FrontendConfig, build_frontend


def field_recording(sr: int, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Pink noise, clicks and a chirp made at 44.1 kHz and resampled: nothing clean about it."""
    rng = np.random.default_rng(seed)
    n = int(44100 * seconds)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / 44100), 20.0))
    y = np.fft.irfft(spec, n)
    y /= np.abs(y).max()
    clicks = np.zeros(n)
    clicks[rng.integers(0, n - 500, 12)] = rng.uniform(-1.0, 1.0, 12)
    y += scipy.signal.lfilter([1.0], [1.0, -np.exp(-1 / 40.0)], clicks)  # decaying clicks
    y += 0.3 * librosa.chirp(fmin=200, fmax=12000, sr=44100, length=n)
    y = soxr.resample(y, 44100, sr)
    return (y / np.abs(y).max()).astype(np.float32)


def librosa_db(y: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    D = librosa.stft(
        y,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=cfg.window,
        center=cfg.center,
        pad_mode=cfg.pad_mode,
    )
    S = np.abs(D) ** cfg.power
    if cfg.kind == "mel":
        S = librosa.feature.melspectrogram(
            S=S,
            sr=cfg.sr,
            n_mels=cfg.n_mels,
            fmin=cfg.fmin,
            fmax=cfg.fmax,
            htk=cfg.htk,
            norm=cfg.mel_norm,
        )
    if cfg.power == 2.0:
        return librosa.power_to_db(S, ref=cfg.ref, amin=cfg.amin, top_db=cfg.top_db)
    return librosa.amplitude_to_db(S, ref=cfg.ref, amin=cfg.amin, top_db=cfg.top_db)


CONFIGS = {
    "log-mel": FrontendConfig(kind="mel"),
    "log-stft": FrontendConfig(kind="stft"),
    "paper-mel": FrontendConfig.paper_esc50("mel"),
    "paper-stft": FrontendConfig.paper_esc50("stft"),
    "htk-unnormed-mel": FrontendConfig(kind="mel", htk=True, mel_norm=None, n_mels=40),
    "magnitude-stft-topdb": FrontendConfig(kind="stft", power=1.0, top_db=80.0),
    "short-window-reflect": FrontendConfig(kind="mel", win_length=400, pad_mode="reflect"),
}


def _signals(sr: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    n = int(1.5 * sr)
    noise = (0.3 * rng.standard_normal(n)).astype(np.float32)
    return {"noise": noise, "field": field_recording(sr, 1.5)}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_features_equal_librosa(name):
    cfg = CONFIGS[name]
    fe = build_frontend(cfg)
    for signal, y in _signals(cfg.sr).items():
        # float64: exact everywhere above the floor.
        ref = librosa_db(y.astype(np.float64), cfg)
        got = fe.features(torch.from_numpy(y.astype(np.float64))[None])[0, 0].numpy()
        assert got.shape == ref.shape
        above = ref > cfg.floor_db
        np.testing.assert_allclose(got[above], ref[above], atol=1e-3, err_msg=signal)
        # float32 (what training uses): both sides round at ~1e-7 of a frame's peak amplitude,
        # which moves bins 70 dB below the clip's peak by ~0.005 dB; compare the top 60 dB.
        ref32 = librosa_db(y, cfg)
        got32 = fe.features(torch.from_numpy(y)[None])[0, 0].numpy()
        above = ref32 > max(cfg.floor_db, ref32.max() - 60.0)
        np.testing.assert_allclose(got32[above], ref32[above], atol=1e-3, err_msg=signal)


def test_features_equal_librosa_on_benchmark_clip(synth_root):
    from audiointerp.data.datasets import open_dataset

    ds = open_dataset(synth_root, sr=16000, duration_s=5.0)
    cfg = CONFIGS["log-mel"]
    fe = build_frontend(cfg)
    for i in (0, len(ds) // 2):
        y = ds[i][0]
        ref = librosa_db(y.astype(np.float64), cfg)
        got = fe.features(torch.from_numpy(y.astype(np.float64))[None])[0, 0].numpy()
        above = ref > cfg.floor_db
        np.testing.assert_allclose(got[above], ref[above], atol=1e-3)


def test_mel_filterbank_convention():
    """Slaney scale and norm by default, HTK on request, both exactly librosa's."""
    for htk, norm in [(False, "slaney"), (True, "slaney"), (True, None)]:
        cfg = FrontendConfig(kind="mel", htk=htk, mel_norm=norm)
        fb = build_frontend(cfg).constants(torch.device("cpu"), torch.float64).fb.numpy()
        ref = librosa.filters.mel(
            sr=16000, n_fft=512, n_mels=64, fmin=50, fmax=8000, htk=htk, norm=norm, dtype=np.float64
        )
        np.testing.assert_allclose(fb, ref, rtol=1e-12)
    slaney = build_frontend(FrontendConfig()).bin_frequencies_hz()
    htk = build_frontend(FrontendConfig(htk=True)).bin_frequencies_hz()
    assert not np.allclose(slaney, htk)
    # Slaney scale is linear below 1 kHz: equal spacing between the low band centres.
    low = np.diff(slaney[slaney < 900])
    np.testing.assert_allclose(low, low[0], rtol=1e-9)


def test_default_shapes_batching_and_dtypes():
    y = torch.from_numpy(np.stack([field_recording(16000, 5.0, seed=s) for s in range(2)]))
    for kind, f in [("mel", 64), ("stft", 257)]:
        fe = build_frontend(FrontendConfig(kind=kind))
        feats = fe.features(y)
        assert feats.shape == (2, 1, f, 313) and feats.dtype == torch.float32
        assert fe.n_bins == f and fe.n_frames(80000) == 313
        spec = fe.analyze(y)
        torch.testing.assert_close(spec.features, feats)
        assert spec.mag.shape == spec.phase.shape == (2, 257, 313)
        assert spec.length == 80000 and spec.sr == 16000
        torch.testing.assert_close(fe.features(y[1:2]), feats[1:2])
        assert float(feats.min()) >= fe.floor_db
        assert fe.features(y.double()).dtype == torch.float64


def test_axes():
    fe = build_frontend(FrontendConfig(kind="stft"))
    np.testing.assert_allclose(fe.bin_frequencies_hz(), np.arange(257) * 16000 / 512)
    np.testing.assert_allclose(fe.frame_times_s(3), [0.0, 0.016, 0.032])
    edges = fe.band_edges_hz()
    assert edges[0] == 0 and edges[-1] == 8000 and len(edges) == 258
    mel_fe = build_frontend(FrontendConfig())
    centres = mel_fe.bin_frequencies_hz()
    assert centres.shape == (64,) and 50 < centres[0] < centres[-1] < 8000
    assert np.all(np.diff(mel_fe.band_edges_hz()) > 0)


def test_config_paper_setting_and_yaml_dict():
    cfg = FrontendConfig.paper_esc50("mel")
    assert (cfg.sr, cfg.n_fft, cfg.hop_length, cfg.win_length, cfg.n_mels) == (
        32000,
        1024,
        320,
        1024,
        64,
    )
    assert (cfg.fmin, cfg.fmax, cfg.power, cfg.top_db) == (50.0, 14000.0, 2.0, None)
    same = from_dict(
        FrontendConfig,
        {
            "kind": "mel",
            "sr": 32000,
            "n_fft": 1024,
            "win_length": 1024,
            "hop_length": 320,
            "fmax": 14000,
            "pad_mode": "reflect",
            "htk": True,
            "mel_norm": None,
        },
    )
    assert same == cfg
    stft = FrontendConfig.paper_esc50("stft")  # the study's STFT model: 16 kHz, 512 / 256
    assert (stft.sr, stft.n_fft, stft.win_length, stft.hop_length, stft.n_bins) == (
        16000,
        512,
        512,
        256,
        257,
    )
    assert build_frontend({"kind": "stft"}).n_bins == 257
    assert FrontendConfig(win_length=None).win_length == 512
    assert FrontendConfig(fmax=None).fmax == 8000
    assert build_frontend({"kind": "stft", "sr": 8000}).n_bins == 257  # fmax is mel-only


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "cqt"},
        {"win_length": 1024},
        {"fmax": 9000},
        {"fmin": 9000.0, "fmax": 8000},
        {"n_fft": 0},
        {"hop_length": 2.5},
        {"power": 0},
        {"mel_norm": "l2"},
        {"pad_mode": "edge"},
        {"log": "yes"},
        {"top_db": -1},
        {"hop_size": 256},
    ],
)
def test_bad_config(bad):
    with pytest.raises(ParameterError):
        from_dict(FrontendConfig, bad)


def test_bad_window_name():
    with pytest.raises(ParameterError, match="window"):
        build_frontend(FrontendConfig(window="no-such-window"))
    assert build_frontend(FrontendConfig(window="hamming")).n_bins == 64


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((1, 16000), np.float32),  # not a tensor
        torch.zeros(16000),  # no batch axis
        torch.zeros(1, 1, 16000),  # channel axis
        torch.zeros(1, 16000, dtype=torch.int16),
        torch.zeros(1, 16000, dtype=torch.float16),
        torch.full((1, 16000), float("nan")),
        torch.zeros(1, 100),  # shorter than n_fft
        torch.zeros(0, 16000),
    ],
)
def test_bad_wave(bad):
    fe = build_frontend(FrontendConfig())
    with pytest.raises(ParameterError):
        fe.features(bad)
    with pytest.raises(ParameterError):
        fe.analyze(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    y = torch.from_numpy(field_recording(16000, 2.0))[None].repeat(2, 1)
    for kind in ("mel", "stft"):
        fe = build_frontend(FrontendConfig(kind=kind)).to("cuda")
        spec = fe.analyze(y.cuda())
        ref = fe.features(y)
        top = ref > ref.amax() - 60.0  # float32 FFTs round differently on the two devices
        torch.testing.assert_close(spec.features.cpu()[top], ref[top], atol=1e-3, rtol=0)
        out = fe.resynthesize(spec, torch.ones_like(spec.features))
        assert out.device.type == "cuda"
        torch.testing.assert_close(out.cpu(), y, atol=1e-5, rtol=0)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n_fft, hop", [(512, 256), (256, 128), (1024, 320), (512, 128)])
def test_istft_equals_torch_istft_bit_for_bit(center, n_fft, hop):
    """The project's own overlap-add (frames overlapping at most pairwise) gives torch.istft's
    bits; other settings are torch.istft itself. Lengths inside and past the last frame; a
    window whose overlap-add vanishes (Hann without centring, at sample 0) raises as
    torch.istft does."""
    from audiointerp.processing import stft as _stft

    torch.manual_seed(0)
    window = torch.hann_window(n_fft)
    if not center:
        D = torch.randn(1, n_fft // 2 + 1, 10, dtype=torch.complex64)
        with pytest.raises(RuntimeError, match="window overlap add"):
            _stft.istft(D, n_fft=n_fft, hop_length=hop, win_length=n_fft, window=window,
                        center=False, length=n_fft)  # fmt: skip
        window = window + 0.1
    for length in (16000, 16000 + n_fft):
        frames = 1 + 16000 // hop if center else 1 + (16000 - n_fft) // hop
        D = torch.randn(3, n_fft // 2 + 1, frames, dtype=torch.complex64)
        want = torch.istft(D, n_fft=n_fft, hop_length=hop, win_length=n_fft, window=window,
                           center=center, normalized=False, onesided=True, length=length)  # fmt: skip
        got = _stft.istft(D, n_fft=n_fft, hop_length=hop, win_length=n_fft, window=window,
                          center=center, length=length)  # fmt: skip
        assert got.shape == want.shape == (3, length)
        assert torch.equal(got, want)
