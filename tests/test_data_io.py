"""Tests for audiointerp.data.io: formats, rates, channels, length, normalization, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiointerp.data.io import (
    audio_info,
    fix_length,
    load_audio,
    load_audio_gain,
    peak_normalize,
    resolve_within,
    write_audio,
)
from audiointerp.errors import AudioFileError, DatasetError, ParameterError


@pytest.mark.parametrize("sr", [8000, 16000, 44100, 96000])
def test_rates_resampled_to_requested_rate(tmp_path, tone, sr):
    path = tone(tmp_path / f"t{sr}.wav", sr=sr, seconds=1.0, freq=440.0)
    y = load_audio(path, sr=16000, duration_s=1.0, normalize=False)
    assert y.shape == (16000,) and y.dtype == np.float32
    # The 440 Hz tone survives resampling at its frequency and amplitude.
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) - 440) <= 1
    assert np.max(np.abs(y[1000:-1000])) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_bit_depths_and_float_formats_read_the_same(tmp_path, tone, subtype):
    path = tone(tmp_path / "x.wav", subtype=subtype)
    y = load_audio(path, sr=16000, normalize=False)
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    np.testing.assert_allclose(y, ref, atol=1e-4)


@pytest.mark.parametrize("fmt", ["flac", "ogg"])
def test_flac_and_ogg(tmp_path, tone, fmt):
    path = tmp_path / f"x.{fmt}"
    y = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    sf.write(str(path), y, 16000)
    out = load_audio(path, sr=16000)
    assert out.shape == (16000,) and np.max(np.abs(out)) == pytest.approx(1.0)


def test_stereo_and_multichannel_mix_down_is_channel_mean(tmp_path, tone):
    for channels in (2, 6):
        path = tone(tmp_path / f"c{channels}.wav", channels=channels, subtype="FLOAT")
        data, _ = sf.read(str(path), dtype="float32")
        y = load_audio(path, sr=16000, normalize=False)
        np.testing.assert_allclose(y, data.mean(axis=1), atol=1e-6)
        multi = load_audio(path, sr=16000, mono=False, normalize=False)
        assert multi.shape == (channels, 16000)


def test_fixed_duration_pads_and_crops(tmp_path, tone):
    short = tone(tmp_path / "short.wav", seconds=0.01)  # 160 samples: a very short clip
    y = load_audio(short, sr=16000, duration_s=5.0)
    assert y.shape == (80000,) and np.all(y[160:] == 0) and np.max(np.abs(y)) == 1.0
    long = tone(tmp_path / "long.wav", seconds=2.0)
    assert load_audio(long, sr=16000, duration_s=0.5).shape == (8000,)
    assert load_audio(long, sr=16000).shape == (32000,)
    one = tone(tmp_path / "one.wav", sr=44100, seconds=1 / 44100)  # a single sample
    assert load_audio(one, sr=16000, duration_s=1.0).shape == (16000,)
    assert fix_length(np.ones((2, 3)), 5).shape == (2, 5)


def test_peak_normalize_gain_and_silence(tmp_path):
    y, g = peak_normalize(np.array([0.25, -0.5], np.float32))
    assert g == 2.0 and y.dtype == np.float32 and np.max(np.abs(y)) == 1.0
    z, g0 = peak_normalize(np.zeros(10, np.float32))
    assert g0 == 1.0 and np.all(z == 0) and np.isfinite(z).all()
    path = tmp_path / "silent.wav"
    sf.write(str(path), np.zeros(16000), 16000)
    s, gain = load_audio_gain(path, sr=16000)
    assert gain == 1.0 and np.all(s == 0)


def test_explicit_gain_overrides_normalization(tmp_path, tone):
    path = tone(tmp_path / "x.wav", amp=0.25)
    y, g = load_audio_gain(path, sr=16000, gain=3.0)
    assert g == 3.0 and np.max(np.abs(y)) == pytest.approx(0.75, abs=1e-3)


def _bad_files(tmp_path, tone):
    good = tone(tmp_path / "good.wav").read_bytes()
    files = {
        "empty": b"",
        "truncated header": good[:20],
        "not audio": b"this is a text file pretending to be a wave file\n" * 20,
    }
    out = {}
    for name, data in files.items():
        p = tmp_path / f"{name.replace(' ', '_')}.wav"
        p.write_bytes(data)
        out[name] = p
    zero = tmp_path / "zero.wav"
    sf.write(str(zero), np.zeros((0,)), 16000)
    out["zero samples"] = zero
    for bad in (np.nan, np.inf):
        p = tmp_path / f"nonfinite_{bad}.wav"
        y = np.zeros(1000)
        y[10] = bad
        sf.write(str(p), y, 16000, subtype="FLOAT")
        out[f"value {bad}"] = p
    out["missing"] = tmp_path / "missing.wav"
    return out


def test_bad_files_raise_audio_file_error_naming_the_file(tmp_path, tone):
    expected = {
        "empty": "empty",
        "truncated header": "not a readable audio file",
        "not audio": "not a readable audio file",
        "zero samples": "no samples",
        "value nan": "NaN or Inf",
        "value inf": "NaN or Inf",
        "missing": "not found",
    }
    for name, path in _bad_files(tmp_path, tone).items():
        with pytest.raises(AudioFileError, match=expected[name]) as err:
            load_audio(path, sr=16000)
        assert str(path) in str(err.value), name


def test_audio_info_header(tmp_path, tone):
    info = audio_info(tone(tmp_path / "x.wav", sr=8000, seconds=0.5, channels=2, subtype="PCM_24"))
    assert (info.sr, info.channels, info.frames, info.subtype) == (8000, 2, 4000, "PCM_24")
    assert info.duration_s == 0.5


def test_write_audio_refuses_clipping_and_nan(tmp_path):
    with pytest.raises(ParameterError, match="clip"):
        write_audio(tmp_path / "a.wav", np.array([1.5]), 16000)
    with pytest.raises(ParameterError, match="NaN"):
        write_audio(tmp_path / "a.wav", np.array([np.nan]), 16000, subtype="FLOAT")
    q = np.array([-32768, 0, 32767], np.int16)
    back, _ = sf.read(str(write_audio(tmp_path / "q.wav", q, 16000)), dtype="int16")
    np.testing.assert_array_equal(back, q)


def test_resolve_within_rejects_escaping_paths(tmp_path):
    assert resolve_within(tmp_path, "a/b.wav") == tmp_path / "a" / "b.wav"
    assert resolve_within(tmp_path, "a/../b.wav") == tmp_path / "b.wav"
    for bad in ("../x.wav", "a/../../x.wav", "/etc/passwd"):
        with pytest.raises(DatasetError, match="outside the data root"):
            resolve_within(tmp_path, bad)
