"""Tests for the synthetic benchmark: layout, stems, determinism, SNR, audibility."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from audiointerp.data import open_dataset
from audiointerp.data.synth import (
    BASE_COLUMNS,
    CATEGORIES,
    SynthConfig,
    dominant_share,
    generate_benchmark,
    render_clip,
)
from audiointerp.errors import DatasetError, ParameterError

ESC50_IDS = {
    "siren": 42, "car_horn": 43, "church_bells": 46, "clock_tick": 38, "crickets": 34,
    "chirping_birds": 14, "rain": 10, "engine": 44, "door_wood_knock": 30, "clock_alarm": 37,
}  # fmt: skip


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return generate_benchmark(tmp_path_factory.mktemp("synth") / "a", seed=3, clips_per_class=2)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_layout_and_metadata(bench):
    meta = pd.read_csv(bench / "meta" / "esc50.csv")
    assert list(meta.columns[:7]) == BASE_COLUMNS
    for col in ("snr_db", "onset_s", "duration_s", "f0_hz", "n_events", "dominant_share"):
        assert col in meta.columns
    assert len(meta) == 20 and meta["fold"].value_counts().to_dict() == {1: 10, 2: 10}
    assert dict(zip(meta["category"], meta["target"], strict=True)) == ESC50_IDS
    assert set(meta[meta["esc10"]]["category"]) == {"rain", "clock_tick"}
    assert (meta["snr_db"] >= meta["snr_drawn_db"]).all()
    assert meta["snr_drawn_db"].between(-8, 12).all()
    ds = open_dataset(bench)
    assert ds.has_stems and len(ds) == 20
    assert ds.classes == sorted(ESC50_IDS, key=ESC50_IDS.get)  # label order = ESC-50 target order


def test_mixture_is_exact_sum_of_stems(bench):
    import soundfile as sf

    meta = pd.read_csv(bench / "meta" / "esc50.csv")
    for name in meta["filename"][:10]:
        mix = sf.read(bench / "audio" / name, dtype="int16")[0].astype(np.int32)
        t = sf.read(bench / "stems" / "target" / name, dtype="int16")[0]
        b = sf.read(bench / "stems" / "background" / name, dtype="int16")[0]
        np.testing.assert_array_equal(mix, t.astype(np.int32) + b)
    ds = open_dataset(bench)
    for i in (0, 13):
        stems = ds.load_stems(i)
        np.testing.assert_allclose(ds[i][0], stems["target"] + stems["background"], atol=1e-6)
        assert np.max(np.abs(ds[i][0])) == pytest.approx(1.0)


def test_same_seed_same_bytes_other_seed_differs(bench, tmp_path):
    again = generate_benchmark(tmp_path / "b", seed=3, clips_per_class=2)
    assert _digest(again) == _digest(bench)
    one = SynthConfig(categories=("clock_tick",))
    a = generate_benchmark(tmp_path / "c", seed=3, clips_per_class=1, config=one)
    b = generate_benchmark(tmp_path / "d", seed=4, clips_per_class=1, config=one)
    name = "1-38000-A-38.wav"
    assert (a / "audio" / name).read_bytes() == (bench / "audio" / name).read_bytes()
    assert (b / "audio" / name).read_bytes() != (a / "audio" / name).read_bytes()


def test_clip_independent_of_generation_order():
    a = render_clip("siren", 7, seed=1)
    b = render_clip("siren", 7, seed=1, config=SynthConfig(categories=("siren",)))
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.background, b.background)


@pytest.mark.parametrize("category", CATEGORIES)
def test_snr_and_audibility_at_the_lowest_snr(category):
    cfg = SynthConfig(snr_db_min=-8.0, snr_db_max=-8.0)
    clip = render_clip(category, 0, seed=0, config=cfg)
    t, b = clip.target.astype(float), clip.background.astype(float)
    active = np.zeros(t.size, bool)
    for s, e in clip.intervals:
        active[s:e] = True
    snr = 10 * np.log10(np.mean(t[active] ** 2) / np.mean(b[active] ** 2))
    assert snr == pytest.approx(clip.row["snr_db"], abs=0.05)  # metadata tells the truth
    assert clip.row["snr_db"] >= -8.0
    assert dominant_share(t, b) >= cfg.min_dominant_energy - 0.01


def test_audibility_guarantee_raises_snr_when_needed():
    cfg = SynthConfig(snr_db_min=-40.0, snr_db_max=-40.0, min_dominant_energy=0.5)
    clip = render_clip("engine", 2, seed=0, config=cfg)
    assert clip.row["snr_db"] > -40.0 and clip.row["snr_drawn_db"] == -40.0
    assert dominant_share(clip.target.astype(float), clip.background.astype(float)) >= 0.49


def test_distractor_goes_into_the_background():
    cfg = SynthConfig(distractor_prob=1.0)
    clip = render_clip("siren", 0, seed=0, config=cfg)
    assert clip.row["distractor"] in CATEGORIES and clip.row["distractor"] != "siren"


def test_bad_arguments(tmp_path, bench):
    with pytest.raises(DatasetError, match="overwrite"):
        generate_benchmark(bench, seed=3, clips_per_class=2)
    with pytest.raises(ParameterError, match="seed"):
        generate_benchmark(tmp_path / "x", seed=-1)
    with pytest.raises(ParameterError, match="clips_per_class"):
        generate_benchmark(tmp_path / "x", clips_per_class=0)
    with pytest.raises(ParameterError, match="snr_db_min"):
        SynthConfig(snr_db_min=5, snr_db_max=0).validate()
    with pytest.raises(ParameterError, match="category"):
        SynthConfig(categories=("dog",)).validate()
