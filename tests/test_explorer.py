"""The explorer app, driven headlessly: set widget values, click, inspect the widgets."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from experiment_fixtures import session_setup

from audiointerp.errors import AudioInterpError
from audiointerp.experiments.interactive.explorer import Explorer, ExplorerSession


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


def test_load_random_from_class_then_compute_slice(app):
    assert app.compute_button.disabled  # nothing to explain before a clip is loaded
    app.source.value = "random from class"
    app.category.value = "siren"
    assert not app.category.disabled and app.name.disabled
    app.load_button.click()
    clip = app.session.clip
    assert app.session.dataset.clips[app.session.dataset.index_of(clip.clip_id)].category == "siren"
    assert clip.true_class == "siren" and clip.predicted_class in app.status.value
    assert app.clip_image.value[:4] == b"\x89PNG"
    np.testing.assert_allclose(_wav(app.original_audio.value), clip.wave, atol=1e-4)
    assert not app.compute_button.disabled

    app.method.value, app.mask.value = "slice", "topK_30"
    app.n_freq.value, app.n_time.value = 2, 4
    app.compute_button.click()
    ex = app.session.explanation
    assert (ex.method, ex.mask_name) == ("slice", "topK_30")
    (f0, f1), (t0, t1) = ex.rect
    F, T = clip.features.shape[-2:]
    assert (f1 - f0) in (F // 2, F - F // 2) and (t1 - t0) in (T // 4, T // 4 + 1)
    assert app.result_image.value[:4] == b"\x89PNG"
    for audio in (app.audio_in, app.audio_out, app.audio_slice):
        assert len(_wav(audio.value)) == len(clip.wave)
    for key in ("FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP"):
        assert f"<th>{key}</th>" in app.metrics.value
    assert "done" in app.status.value


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


def test_random_clips_are_seeded(tiny):
    a = ExplorerSession(tiny.models["mel"], tiny.data, duration_s=1.0, seed=7)
    b = ExplorerSession(a.classifier, a.dataset, seed=7)
    assert [a.pick().clip_id for _ in range(3)] == [b.pick().clip_id for _ in range(3)]
    c = ExplorerSession(a.classifier, a.dataset)
    with pytest.raises(AudioInterpError, match="no clip loaded"):
        c.explain("saliency", "minmax")
