"""The explorer app, driven headlessly: set widget values, click, inspect the widgets."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_esc50, write_tone
from experiment_fixtures import session_setup

from audiointerp.errors import AudioInterpError, ParameterError
from audiointerp.experiments.interactive.explorer import Explorer, ExplorerSession
from audiointerp.experiments.interactive.explorer_app import (
    APP_ENV,
    app_parameters,
    build_explorer,
)
from audiointerp.experiments.interactive.listening import LISTENING_PEAK

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny synthetic data set (1 s clips with stems) and two random-weight checkpoints."""
    return session_setup(tmp_path_factory)


@pytest.fixture
def app(tiny):
    return Explorer(tiny.models["mel"], tiny.data, duration_s=1.0, methods=["saliency", "slice"])


def _wav(data: bytes) -> np.ndarray:
    y, sr = sf.read(io.BytesIO(data))
    assert sr == 16000
    return y


def _shown(widget) -> bool:
    return widget.layout.display != "none"


def test_load_random_from_class_then_compute_slice(app):
    assert app.compute_button.disabled  # nothing to explain before a clip is loaded
    assert not _shown(app.clip_box) and not _shown(app.result_box)  # no empty images shown
    assert (app.n_time.min, app.n_time.max, app.n_freq.min, app.n_freq.max) == (1, 6, 1, 6)
    app.source.value = "random from class"
    app.category.value = "siren"
    assert not app.category.disabled and app.name.disabled
    app.load_button.click()
    clip = app.session.clip
    assert app.session.dataset.clips[app.session.dataset.index_of(clip.clip_id)].category == "siren"
    assert clip.true_class == "siren" and clip.predicted_class in app.clip_info.value
    assert "16000 Hz" in app.clip_info.value  # how the file became the model's input
    assert _shown(app.clip_box) and not _shown(app.result_box)
    assert app.clip_image.value[:4] == b"\x89PNG"
    original = _wav(app.original_audio.value)
    np.testing.assert_allclose(original, app._gain * clip.wave, atol=1e-4)
    assert np.abs(original).max() <= LISTENING_PEAK + 1e-4
    assert not app.compute_button.disabled

    app.method.value, app.mask.value = "slice", "topK_30"
    assert not app.fill.disabled and app.fill.value == "train_mean"
    app.n_freq.value, app.n_time.value = 2, 4
    app.compute_button.click()
    ex = app.session.explanation
    assert (ex.method, ex.mask_name) == ("slice", "topK_30")
    (f0, f1), (t0, t1) = ex.rect
    F, T = clip.features.shape[-2:]
    assert (f1 - f0) in (F // 2, F - F // 2) and (t1 - t0) in (T // 4, T // 4 + 1)
    assert _shown(app.result_box) and app.result_image.value[:4] == b"\x89PNG"
    gain = app._gain  # one gain for the input and every version, none of them clips
    for audio, y in ((app.audio_in, ex.audio_in), (app.audio_out, ex.audio_out)):
        np.testing.assert_allclose(_wav(audio.value), gain * y, atol=1e-4)
    np.testing.assert_allclose(_wav(app.original_audio.value), gain * clip.wave, atol=1e-4)
    peaks = [np.abs(_wav(a.value)).max() for a in (app.audio_in, app.audio_out, app.audio_slice)]
    assert max(peaks + [np.abs(_wav(app.original_audio.value)).max()]) <= LISTENING_PEAK + 1e-4
    assert len(_wav(app.audio_slice.value)) == len(clip.wave)
    for key in ("FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP"):
        assert f"<th>{key}</th>" in app.metrics.value
    assert "done" in app.status.value and f"{gain:.3f}" in app.status.value


def test_compute_shows_a_computing_state_and_hides_the_old_result(app, monkeypatch):
    app.on_load()
    app.method.value = "saliency"
    app.on_compute()
    assert _shown(app.result_box)
    seen = {}
    explain = app.session.explain

    def spy(*args, **kwargs):
        seen["status"] = app.status.value
        seen["buttons"] = (app.load_button.disabled, app.compute_button.disabled)
        seen["result_shown"] = _shown(app.result_box)
        return explain(*args, **kwargs)

    monkeypatch.setattr(app.session, "explain", spy)
    app.on_compute()
    assert "computing saliency" in seen["status"] and seen["buttons"] == (True, True)
    assert seen["result_shown"] is False  # never the previous clip's image under a new label
    assert not app.load_button.disabled and not app.compute_button.disabled


def test_slice_fill_is_a_named_choice(app):
    app.on_load()
    app.method.value = "saliency"
    assert app.fill.disabled  # saliency occludes nothing
    app.method.value = "slice"
    assert not app.fill.disabled
    labels = [label for label, _ in app.fill.options]
    assert labels[:2] == ["training mean", "silence floor"]
    app.fill.value = "floor"
    app.on_compute()
    method = app.session.explainer.method("slice", {"fill": "floor", "n_freq": 3, "n_time": 3})
    assert method.fill == app.session.classifier.frontend.floor_db
    floor_drops = app.session.explanation.details["drops"]
    app.fill.value = "train_mean"
    app.on_compute()
    assert not np.allclose(floor_drops, app.session.explanation.details["drops"])


def test_load_by_name_and_bad_name(app):
    wanted = app.session.dataset.clips[2].id
    app.source.value = "by name"
    app.name.value = wanted + ".wav"
    app.on_load()
    assert app.session.clip.clip_id == wanted
    app.method.value, app.mask.value = "saliency", "minmax"
    app.on_compute()
    assert app.session.explanation.method == "saliency"
    app.name.value = "no-such-clip"
    app.on_load()
    assert "no clip named" in app.status.value
    assert app.session.clip.clip_id == wanted  # the previous clip stays
    assert not app.load_button.disabled  # the app stays usable after an error


def test_random_clips_are_seeded(tiny):
    a = ExplorerSession(tiny.models["mel"], tiny.data, duration_s=1.0, seed=7)
    b = ExplorerSession(a.classifier, a.dataset, seed=7)
    assert [a.pick().clip_id for _ in range(3)] == [b.pick().clip_id for _ in range(3)]
    c = ExplorerSession(a.classifier, a.dataset)
    with pytest.raises(AudioInterpError, match="no clip loaded"):
        c.explain("saliency", "minmax")


def _us8k(root: Path) -> Path:
    """An UrbanSound8K-layout folder: variable lengths, 44.1 / 22.05 kHz, stereo and mono."""
    rows = []
    specs = [("siren", 1, 44100, 2, 3.2), ("siren", 2, 22050, 1, 0.7), ("rain", 1, 8000, 1, 6.0)]
    for i, (cls, fold, sr, channels, seconds) in enumerate(specs):
        name = f"{100 + i}-{i}-0-0.wav"
        write_tone(root / "audio" / f"fold{fold}" / name, sr=sr, seconds=seconds, channels=channels)
        rows.append([name, 100 + i, 0, seconds, 1, fold, ["siren", "rain"].index(cls), cls])
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
        )
        w.writerows(rows)
    return root


def test_any_folder_layout_length_rate_and_channels(tiny, tmp_path):
    """ESC-50 and UrbanSound8K folders with clips of other lengths, rates and channel counts;
    labels unknown to the model are kept and said so."""
    us8k = _us8k(tmp_path / "us8k")
    app = Explorer(tiny.models["mel"], us8k, methods=["saliency"])
    session = app.session
    n = int(round(5.0 * 16000))  # the model's clip length (no training config: 5 s)
    for clip in session.dataset.clips:
        app.source.value, app.name.value = "by name", clip.id
        app.on_load()
        assert session.clip.wave.shape == (n,) and session.clip.sr == 16000
        info = app.clip_info.value
        assert f"{sf.info(str(clip.path)).samplerate} Hz" in info and "-&gt; model input" in info
        app.on_compute()
        assert len(_wav(app.audio_out.value)) == n
    esc = make_esc50(tmp_path / "esc", sr=44100, seconds=2.5, folds=(1,))
    app = Explorer(tiny.models["mel"], esc, methods=["saliency"])
    app.source.value, app.category.value = "random from class", "dog"  # not a model class
    app.on_load()
    clip = app.session.clip
    assert clip.unknown_class and clip.true_class is None
    assert (
        "not one of the model" in app.notes.value and "unknown to the model" in app.clip_info.value
    )
    assert "'dog'" in clip.label_note and "cannot be right" in clip.label_note


def test_app_parameters_come_from_the_environment(monkeypatch):
    defaults = {"config": "configs/experiment_default.yaml", "weights": "", "click_once": True}
    monkeypatch.delenv(APP_ENV, raising=False)
    assert app_parameters(**defaults) == defaults
    monkeypatch.setenv(APP_ENV, json.dumps({"config": "", "weights": "/w.pt", "click_once": False}))
    assert app_parameters(**defaults) == {"config": "", "weights": "/w.pt", "click_once": False}
    monkeypatch.setenv(APP_ENV, json.dumps({"weigths": "/w.pt"}))
    with pytest.raises(ParameterError, match="weigths"):
        app_parameters(**defaults)


def test_build_explorer_resolves_paths_from_the_notebook_folder(tiny, monkeypatch):
    from audiointerp.paths import repo_path

    monkeypatch.chdir(ROOT / "notebooks")  # where JupyterLab and Voila start the kernel
    small = {
        "data.test_folds": [1],
        "data.train_folds": [2],
        "data.duration_s": 1.0,
        "data.n_clips": 2,
        "noises_dir": str(tiny.noises),
        "methods": {"gradcam": {}},
        "sanity_methods": None,
    }
    app = build_explorer(
        config="configs/experiment_default.yaml",  # relative to the repository root
        model="mel",
        weights=tiny.models["mel"],
        data=str(tiny.data),
        overrides=small,
        resolve=repo_path,
    )
    assert app.session.methods == ["gradcam"] and len(app.session.dataset) == 2
    folder = build_explorer(weights=tiny.models["mel"], data=str(tiny.data), resolve=repo_path)
    assert "lime" in folder.session.methods
    with pytest.raises(ParameterError, match="--weights"):
        build_explorer(weights=tiny.models["mel"])
    with pytest.raises(ParameterError, match="method options"):
        build_explorer(weights=tiny.models["mel"], data=str(tiny.data), overrides={"seed": 1})


def test_explore_command_checks_its_arguments_before_serving(tiny, tmp_path, capsys):
    from audiointerp.cli import main
    from audiointerp.commands.explore import voila_command

    assert main(["explore"]) == 2
    assert "--weights W and --data DIR" in capsys.readouterr().err
    assert main(["explore", "--weights", str(tmp_path / "no.pt"), "--data", str(tiny.data)]) == 2
    assert "no such file" in capsys.readouterr().err
    cmd = voila_command(ROOT / "notebooks" / "07_explorer.ipynb", 8999)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=8999" in cmd and "--no-browser" in cmd
