"""Tests for audiointerp.data.mixing and noises: SNR accuracy, paper mixing, noises, interference."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiointerp.data.mixing import (
    fit_noise,
    interference_mix,
    load_noise,
    mix_at_snr,
    paper_mix,
    rms,
)
from audiointerp.data.noises import NOISE_NAMES, make_noise, write_noises
from audiointerp.errors import AudioFileError, ParameterError


def _snr(clip, noise):
    return 10 * np.log10(np.mean(clip**2, axis=-1) / np.mean(noise**2, axis=-1))


@pytest.mark.parametrize("snr_db", [-10.0, -3.5, 0.0, 6.0, 20.0])
def test_mix_at_snr_within_0_1_db(snr_db):
    rng = np.random.default_rng(0)
    clip = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    noise = rng.standard_normal(7000).astype(np.float32)  # shorter: looped
    mix, scaled = mix_at_snr(clip, noise, snr_db)
    assert mix.shape == clip.shape and mix.dtype == np.float32
    assert abs(_snr(clip, scaled) - snr_db) < 0.1
    np.testing.assert_allclose(mix - scaled, clip, atol=1e-5)


def test_mix_at_snr_batched_equals_unbatched_and_normalize():
    rng = np.random.default_rng(1)
    clips = rng.standard_normal((3, 4000)) * np.array([[0.1], [1.0], [3.0]])
    noise = rng.standard_normal(4000)
    mix, scaled = mix_at_snr(clips, noise, 5.0)
    for i in range(3):
        m1, s1 = mix_at_snr(clips[i], noise, 5.0)
        np.testing.assert_allclose(mix[i], m1, rtol=1e-5, atol=1e-6)
        assert abs(_snr(clips[i], s1) - 5.0) < 0.1
    nmix, nscaled = mix_at_snr(clips, noise, 5.0, normalize=True)
    np.testing.assert_allclose(np.abs(nmix).max(axis=1), 1.0, rtol=1e-6)
    assert np.all(abs(_snr(nmix - nscaled, nscaled) - 5.0) < 0.1)


def test_mix_at_snr_rejects_silence_and_nan():
    with pytest.raises(ParameterError, match="silent"):
        mix_at_snr(np.zeros(100), np.ones(100), 0.0)
    with pytest.raises(ParameterError, match="NaN"):
        mix_at_snr(np.full(100, np.nan), np.ones(100), 0.0)


def test_paper_mix_matches_definition():
    rng = np.random.default_rng(2)
    clip, noise = 0.2 * rng.standard_normal(1000), 5 * rng.standard_normal(1000)
    out = paper_mix(clip, noise, alpha=0.6)
    ref = 0.6 * clip / rms(clip) + 0.4 * noise / rms(noise)
    np.testing.assert_allclose(out, ref / np.abs(ref).max(), rtol=1e-5, atol=1e-6)
    assert abs(_snr(0.6 * clip / rms(clip), 0.4 * noise / rms(noise)) - 3.52) < 0.01
    batch = paper_mix(np.stack([clip, np.zeros(1000)]), noise)
    np.testing.assert_allclose(batch[0], out, rtol=1e-6)
    assert np.isfinite(batch).all() and np.abs(batch[1]).max() == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="alpha"):
        paper_mix(clip, noise, alpha=1.5)


def test_fit_noise_loops_and_crops():
    x = np.arange(5.0)
    np.testing.assert_array_equal(fit_noise(x, 12), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    np.testing.assert_array_equal(fit_noise(x, 3, offset=4), [4, 0, 1])
    assert fit_noise(np.ones((2, 5)), 7).shape == (2, 7)


def test_noises_reproducible_and_distinct(tmp_path):
    paths = write_noises(tmp_path)
    assert [p.name for p in paths] == ["white.wav", "room.wav", "event.wav"]
    again = write_noises(tmp_path / "again")
    for a, b in zip(paths, again, strict=True):
        assert a.read_bytes() == b.read_bytes()
        info = sf.info(str(a))
        assert (info.samplerate, info.frames, info.subtype) == (16000, 80000, "PCM_16")
    white, room, event = (make_noise(n) for n in NOISE_NAMES)
    spec = lambda y: np.abs(np.fft.rfft(y)) ** 2  # noqa: E731
    # Room noise is coloured (most power below 500 Hz); white is flat.
    assert spec(room)[:2500].sum() / spec(room).sum() > 0.5
    assert spec(white)[:2500].sum() / spec(white).sum() < 0.1
    # The event is non-stationary: frame energies vary by orders of magnitude.
    frames = (event[: 80000 // 400 * 400].reshape(-1, 400) ** 2).mean(axis=1)
    assert frames.max() / np.median(frames) > 30


def test_load_noise_by_name_path_and_fallback(tmp_path):
    write_noises(tmp_path)
    y = load_noise("room", sr=16000, duration_s=7.0, noises_dir=tmp_path)
    assert y.shape == (112000,) and np.abs(y).max() == pytest.approx(1.0)
    np.testing.assert_array_equal(y[80000:], y[:32000])  # looped
    gen = load_noise("white", sr=8000, duration_s=1.0, noises_dir=tmp_path / "none")
    assert gen.shape == (8000,)
    path_noise = load_noise(tmp_path / "event.wav", sr=16000, duration_s=2.0)
    assert path_noise.shape == (32000,)
    with pytest.raises(AudioFileError, match="neither a file"):
        load_noise("pink", sr=16000, duration_s=1.0)
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(100), 16000)
    with pytest.raises(AudioFileError, match="silent"):
        load_noise(silent, sr=16000, duration_s=1.0)


def test_interference_keeps_stems_consistent():
    rng = np.random.default_rng(3)
    target, background = rng.standard_normal(8000), 0.1 * rng.standard_normal(8000)
    other = np.sin(np.arange(3000) * 0.3)
    out = interference_mix(target, background, other, snr_db=2.0)
    np.testing.assert_allclose(out["mixture"], out["target"] + out["background"], atol=1e-5)
    assert abs(_snr(out["target"], out["interferer"]) - 2.0) < 0.1
    np.testing.assert_allclose(
        out["background"] - out["interferer"], background * out["target"][0] / target[0], atol=1e-5
    )
    assert np.abs(out["mixture"]).max() == pytest.approx(1.0)


def test_interference_set_from_a_benchmark(tmp_path):
    from audiointerp.data import open_dataset
    from audiointerp.data.interference import write_interference_set
    from audiointerp.data.synth import SynthConfig, generate_benchmark

    cfg = SynthConfig(categories=("siren", "clock_tick"))
    src = generate_benchmark(tmp_path / "src", clips_per_class=2, config=cfg)
    out = write_interference_set(src, tmp_path / "mix", snr_db=3.0, seed=1)
    ds = open_dataset(out)
    assert ds.has_stems and len(ds) == 4 and ds.classes == open_dataset(src).classes
    for i, clip in enumerate(ds.clips):
        assert clip.meta["interferer_category"] != clip.category
        mix, stems = ds[i][0], ds.load_stems(i)
        np.testing.assert_allclose(mix, stems["target"] + stems["background"], atol=1e-6)
    mix_raw = sf.read(out / "audio" / ds.clips[0].path.name, dtype="int16")[0]
    t = sf.read(out / "stems" / "target" / ds.clips[0].path.name, dtype="int16")[0]
    b = sf.read(out / "stems" / "background" / ds.clips[0].path.name, dtype="int16")[0]
    np.testing.assert_array_equal(mix_raw, t.astype(np.int32) + b)
