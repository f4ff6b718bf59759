"""Listening conditions: names, the paper's mixing (RMS then peak), stems that follow the mix."""

from __future__ import annotations

import numpy as np
import pytest

from audiointerp.errors import ParameterError
from audiointerp.experiments.grid.conditions import (
    Condition,
    apply_condition,
    mixing_coefficients,
    parse_condition,
    rival_indices,
)


def _rms(x):
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=-1))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    n = 4000
    t = np.arange(n) / 16000
    target = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (440.0, 1000.0)]).astype(np.float32)
    background = (0.05 * rng.standard_normal((2, n))).astype(np.float32)
    noise = (0.2 * rng.standard_normal(n)).astype(np.float32)
    return target + background, target, background, noise


def test_parse_condition_names():
    assert parse_condition("clean") == Condition("clean", "clean")
    assert parse_condition("room") == Condition("room", "paper", "room")
    assert parse_condition("white_snr-5") == Condition("white_snr-5", "snr", "white", -5.0)
    assert parse_condition("other_class") == Condition("other_class", "other_class", None, 0.0)
    assert parse_condition("other_class_snr6").snr_db == 6.0
    for bad in ("pink", "clean_snr3", "white_snr", "Event"):
        with pytest.raises(ParameterError, match="not valid|no SNR"):
            parse_condition(bad)


def test_clean_returns_the_batch_untouched(batch):
    mix, target, background, _ = batch
    out = apply_condition(parse_condition("clean"), mix, target=target, background=background)
    assert out.waves is not None and np.array_equal(out.waves, mix)
    assert out.target is target and out.background is background


def test_paper_mixing_rms_weights_peak_and_stems(batch):
    mix, target, background, noise = batch
    out = apply_condition(
        parse_condition("white"), mix, added=noise, target=target, background=background, alpha=0.6
    )
    assert out.waves.shape == mix.shape and out.waves.dtype == np.float32
    np.testing.assert_allclose(np.abs(out.waves).max(axis=1), 1.0, atol=1e-5)  # peak-normalized
    coef = mixing_coefficients(out.waves, mix, np.broadcast_to(noise, mix.shape))
    clip_part = coef[:, :1] * mix
    noise_part = coef[:, 1:] * noise
    # RMS-normalized before weighting: contributions' RMS ratio is alpha / (1 - alpha)
    np.testing.assert_allclose(_rms(clip_part) / _rms(noise_part), 0.6 / 0.4, rtol=1e-3)
    np.testing.assert_allclose(out.waves, clip_part + noise_part, atol=1e-5)
    # the added noise is background: stems still sum to the mixture, target scaled like the clip
    np.testing.assert_allclose(out.target + out.background, out.waves, atol=1e-6)
    np.testing.assert_allclose(out.target, coef[:, :1] * target, rtol=1e-4, atol=1e-6)


def test_snr_mixing_sets_the_snr_of_clip_over_noise(batch):
    mix, target, background, noise = batch
    out = apply_condition(
        parse_condition("room_snr10"), mix, added=noise, target=target, background=background
    )
    coef = mixing_coefficients(out.waves, mix, np.broadcast_to(noise, mix.shape))
    snr = 20 * np.log10(_rms(coef[:, :1] * mix) / _rms(coef[:, 1:] * noise))
    np.testing.assert_allclose(snr, 10.0, atol=0.01)
    np.testing.assert_allclose(out.target + out.background, out.waves, atol=1e-6)


def test_noise_conditions_need_the_added_sound(batch):
    with pytest.raises(ParameterError, match="added"):
        apply_condition(parse_condition("event"), batch[0])


def test_rival_is_another_class_and_depends_on_the_clip_id_only():
    labels = np.array([0, 0, 1, 2, 1, 2])
    ids = [f"clip{i}" for i in range(6)]
    riv = rival_indices(labels, ids, seed=0)
    assert (labels[riv] != labels).all()
    # reordering the pool does not change whose event a clip gets
    perm = np.array([5, 3, 1, 0, 4, 2])
    riv_perm = rival_indices(labels[perm], [ids[i] for i in perm], seed=0)
    assert [ids[perm[r]] for r in riv_perm] == [ids[riv[i]] for i in perm]
    with pytest.raises(ParameterError, match="two classes"):
        rival_indices(np.zeros(3, int), ids[:3], seed=0)


def _noise(path, seed=0, seconds=0.5, sr=16000):
    import soundfile as sf

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * rng.standard_normal(int(seconds * sr))).astype(np.float32), sr)
    return path


def test_noise_files_and_folders_are_conditions_named_by_stem(tmp_path):
    from audiointerp.experiments.grid.conditions import expand_conditions

    horse = _noise(tmp_path / "mine" / "horse.wav")
    folder = tmp_path / "more"
    for i, name in enumerate(("wind", "crowd")):
        _noise(folder / f"{name}.flac", seed=i + 1)
    (folder / "notes.txt").write_text("not audio")
    names, files = expand_conditions(
        ["clean", str(horse), f"{folder}_snr5", "white_snr10", str(horse) + "_snr-3"]
    )
    assert names == ("clean", "horse", "crowd_snr5", "wind_snr5", "white_snr10", "horse_snr-3")
    assert files == {
        "horse": str(horse),
        "crowd": str(folder / "crowd.flac"),
        "wind": str(folder / "wind.flac"),
    }
    cond = parse_condition("horse", files)
    assert (cond.kind, cond.noise, cond.file) == ("paper", "horse", str(horse))
    cond = parse_condition("wind_snr5", files)
    assert (cond.kind, cond.snr_db, cond.file) == ("snr", 5.0, files["wind"])
    # a saved config (names + noise_files) parses back to the same conditions
    assert expand_conditions(names, files) == (names, files)


def test_bad_noise_conditions_are_refused_with_the_reason(tmp_path):
    from audiointerp.experiments.grid.conditions import expand_conditions

    a, b = _noise(tmp_path / "a" / "rain.wav"), _noise(tmp_path / "b" / "rain.wav", seed=3)
    with pytest.raises(ParameterError, match="two noise files are named 'rain'"):
        expand_conditions([str(a), str(b)])
    with pytest.raises(ParameterError, match="listed twice"):
        expand_conditions([str(a), str(a)])
    with pytest.raises(ParameterError, match="cannot be named 'clean'"):
        expand_conditions([str(_noise(tmp_path / "c" / "clean.wav"))])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="holds no audio file"):
        expand_conditions([str(tmp_path / "empty")])
    with pytest.raises(ParameterError, match="noise file or folder"):
        expand_conditions([str(tmp_path / "missing.wav")])


def test_a_grid_with_noise_files_as_conditions(tmp_path, tmp_path_factory):
    from experiment_fixtures import session_setup

    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment

    tiny = session_setup(tmp_path_factory)
    horse = _noise(tmp_path / "noises" / "horse.wav")
    over = tiny.overrides(
        tmp_path / "out",
        models={"mel": tiny.models["mel"]},
        conditions=["clean", str(horse), f"{horse}_snr0"],
        methods={"saliency": {}},
        masks=["bin"],
    )
    cfg = load_experiment(None, over)
    assert cfg.conditions == ("clean", "horse", "horse_snr0")
    table = run_experiment(cfg, progress=False).table
    assert list(dict.fromkeys(table["condition"])) == ["clean", "horse", "horse_snr0"]
    assert (tmp_path / "out" / "mel" / "saliency_horse" / "csvs" / "bin.csv").is_file()
    # the fingerprint follows the noise file's contents, not its path
    before = cfg.fingerprint()
    _noise(horse, seed=9)
    assert load_experiment(None, over).fingerprint() != before
