"""Illustration: per-clip explanation core, figure, audio files and the listening page."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import soundfile as sf
import torch
from experiment_fixtures import session_setup

from audiointerp.errors import ParameterError
from audiointerp.experiments.core.explain import grid_rectangle
from audiointerp.experiments.interactive.clip import ClipExplainer
from audiointerp.experiments.interactive.illustrate import illustrate_clip
from audiointerp.experiments.interactive.listening import PageSection, listening_page, wav_bytes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny synthetic data set (1 s clips with stems) and two random-weight checkpoints."""
    return session_setup(tmp_path_factory)


def test_grid_rectangle_finds_the_hottest_cell():
    a = np.zeros((10, 20))
    a[6:10, 5:10] = 1.0  # grid edges: rows [0, 3, 7, 10], columns [0, 5, 10, 15, 20]
    (f0, f1), (t0, t1) = grid_rectangle(a, n_freq=3, n_time=4)
    assert (f0, f1) == (7, 10) and (t0, t1) == (5, 10)


def test_explain_clip_matches_masks_and_metrics(tiny):
    from audiointerp.data import open_dataset
    from audiointerp.interpretation import apply_mask, make_masks
    from audiointerp.models import load_classifier

    clf = load_classifier(tiny.models["mel"], device="cpu")
    ds = open_dataset(tiny.data, sr=16000, duration_s=1.0)
    wave, _, cid = ds[0]
    explainer = ClipExplainer.from_folder(clf, tiny.data, train_folds=(2,), duration_s=1.0)
    clip = explainer.analyze(wave, clip_id=cid, category=ds.clips[0].category)
    with torch.no_grad():
        probs = clf.model(clf.frontend.analyze(torch.from_numpy(wave)[None]).features).softmax(-1)[
            0
        ]
    np.testing.assert_allclose(clip.probs, probs.numpy(), rtol=1e-5)
    ex = explainer.explain(clip, "saliency", masks=["minmax", "bin"])
    assert list(ex) == ["minmax", "bin"]
    e = ex["bin"]
    F, T = clip.features.shape[-2:]
    assert e.attribution.shape == e.mask.shape == e.masked_in.shape == (F, T)
    assert e.audio_in.shape == e.audio_out.shape == e.rect_audio.shape == wave.shape
    mask = make_masks(torch.from_numpy(e.attribution)[None, None], ["bin"])["bin"]
    np.testing.assert_array_equal(e.mask, mask[0, 0].numpy())
    x_in = apply_mask(clip.features, mask, clf.frontend.floor_db)
    with torch.no_grad():
        p_in = clf.model(x_in).softmax(-1)[0, clip.prediction].item()
    assert e.metrics["p_in"] == pytest.approx(p_in, rel=1e-5)
    assert e.metrics["FF"] == pytest.approx(e.metrics["p"] - e.metrics["p_out"])
    assert set(e.metrics) >= {"FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP"}
    with pytest.raises(ParameterError, match="mask"):
        explainer.explain(clip, "saliency", masks=["nope"])


def test_slice_method_rectangle_comes_from_occlusion(tiny):
    from audiointerp.data import open_dataset
    from audiointerp.interpretation import get_method
    from audiointerp.models import load_classifier

    clf = load_classifier(tiny.models["stft"], device="cpu")
    wave, _, cid = open_dataset(tiny.data, sr=16000, duration_s=1.0)[1]
    explainer = ClipExplainer.from_folder(
        clf, None, method_options={"slice": {"n_freq": 2, "n_time": 4}}
    )
    clip = explainer.analyze(wave, clip_id=cid)
    ex = explainer.explain(clip, "slice", masks=["minmax"])["minmax"]
    res = get_method("slice", n_freq=2, n_time=4).explain(clf.model, clip.features)
    assert ex.rect == res.regions[0]
    assert ex.details["drops"].shape == (2, 4)
    # without training data the fill falls back to the clip's own mean, and says so
    assert any("clip's own mean" in n for n in explainer.context.notes)


def _data_uris(page: str, kind: str) -> list[bytes]:
    return [
        base64.b64decode(m)
        for m in re.findall(rf'src="data:{kind};base64,([A-Za-z0-9+/=]+)"', page)
    ]


def test_listening_page_is_self_contained():
    y = np.sin(np.linspace(0, 100, 1600)).astype(np.float32)
    versions = {"saliency": {"minmax": {"in": y, "out": -y, "slice": y, "metrics": {"FF": 0.5}}}}
    sec = PageSection("mel: clip", "summary", b"\x89PNG fake", 16000, y, versions, ["minmax"])
    page = listening_page([sec], title="t")
    assert len(_data_uris(page, "image/png")) == 1
    wavs = _data_uris(page, "audio/flac")
    assert len(wavs) == 4  # original, in, out, slice
    back, sr = sf.read(io.BytesIO(wavs[0]))
    assert sr == 16000 and np.abs(back - y).max() < 1e-4
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # no relative or remote references
    assert wav_bytes(np.array([2.0, -2.0]), 8000)[:4] == b"RIFF"


def test_illustrate_clip_writes_figure_audio_and_page(tiny, tmp_path):
    ill = illustrate_clip(
        None,
        models={"mel": tiny.models["mel"]},
        data=tiny.data,
        out_dir=tmp_path,
        methods=["gradcam", "slice"],
        masks=["minmax", "topK_30"],
        duration_s=1.0,
        dpi=40,
        seed=3,
    )
    res = ill.models["mel"]
    assert res.figure_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.figure_pdf.read_bytes()[:4] == b"%PDF"
    names = sorted(p.name for p in (tmp_path / "mel" / "audio").iterdir())
    assert names == sorted(
        ["original.wav", "gradcam_slice.wav", "slice_slice.wav"]
        + [
            f"{m}_{k}_{io_}.wav"
            for m in ("gradcam", "slice")
            for k in ("minmax", "topK_30")
            for io_ in ("in", "out")
        ]
    )
    y, sr = sf.read(tmp_path / "mel" / "audio" / "original.wav")
    assert sr == 16000 and len(y) == 16000 and np.abs(y).max() <= 1.0
    page = ill.html.read_text()
    assert len(_data_uris(page, "image/png")) == 1
    assert len(_data_uris(page, "audio/flac")) == 1 + 2 * (1 + 2 * 2)
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert ill.figure == res.figure_png and ill.clip_id == res.clip.clip_id
    again = illustrate_clip(
        ill.clip_id,
        models=tiny.models["mel"],
        data=tiny.data,
        out_dir=tmp_path / "b",
        methods=["gradcam"],
        masks=["minmax"],
        duration_s=1.0,
        dpi=40,
    )
    assert again.clip_id == ill.clip_id
    with pytest.raises(ParameterError, match="exactly one"):
        illustrate_clip(
            models=tiny.models["mel"], out_dir=tmp_path, methods=["gradcam"], masks=["bin"]
        )


def test_illustrate_command(tiny, tmp_path, capsys):
    from audiointerp.cli import main

    clip_id = "1-" + sorted(p.stem for p in (tiny.data / "audio").glob("1-*.wav"))[0][2:]
    assert (
        main(
            [
                "illustrate",
                "--weights",
                f"m={tiny.models['stft']}",
                "--data",
                str(tiny.data),
                "--clip",
                clip_id,
                "--methods",
                "saliency",
                "--masks",
                "bin",
                "--duration-s",
                "1",
                "--dpi",
                "30",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert f"m: {clip_id} predicted" in capsys.readouterr().out
    assert (tmp_path / "m" / "audio" / "saliency_bin_out.wav").is_file()
    assert (tmp_path / "listen.html").is_file()


def test_hz_axis_labels_sit_at_their_frequency():
    from matplotlib.figure import Figure

    from audiointerp.experiments.interactive.figures import set_hz_axis
    from audiointerp.processing import FrontendConfig, build_frontend

    hz = build_frontend(FrontendConfig(kind="mel")).bin_frequencies_hz()
    ax = Figure().subplots()
    set_hz_axis(ax, hz)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "1k" in labels and "4k" in labels
    row = ax.get_yticks()[labels.index("1k")]
    assert np.interp(row, np.arange(len(hz)), hz) == pytest.approx(1000.0, rel=1e-6)
    assert np.all(np.diff(ax.get_yticks()) >= 0.08 * len(hz))  # labels never overlap
