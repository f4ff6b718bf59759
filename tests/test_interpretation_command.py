"""`audiointerp interpret` end to end on a tiny checkpoint and 44.1 kHz stereo files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from audiointerp.cli import main
from audiointerp.config import load_yaml
from audiointerp.errors import ParameterError
from audiointerp.models import build_model, save_classifier

CLASSES = ["siren", "rain", "engine"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    frontend = load_yaml("configs/default_mel.yaml")["frontend"]
    model = build_model("cnn6", num_classes=3, num_bins=frontend["n_mels"], width=0.125)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    return save_classifier(
        path,
        model.eval(),
        model_config={"arch": "cnn6", "width": 0.125},
        frontend_config=frontend,
        classes=CLASSES,
        meta={"note": "random init, tests"},
    )


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    sr = 44100
    t = np.arange(int(1.2 * sr)) / sr
    tone = 0.4 * np.sin(2 * np.pi * 880 * t) * (t > 0.4)
    path = tmp_path_factory.mktemp("a") / "tone.wav"
    sf.write(path, np.stack([tone, 0.5 * tone], 1), sr)
    return path


def _run(checkpoint, audio, out, *extra):
    argv = ["interpret", "--audio", str(audio), "--weights", str(checkpoint), "--out", str(out)]
    return main([*argv, "--duration-s", "1.0", *extra])


def test_interpret_writes_figure_audio_and_metrics(checkpoint, audio, tmp_path, capsys):
    masks = ["minmax", "bin", "topK_30_pos"]
    assert _run(checkpoint, audio, tmp_path, "--method", "gradcam", "--masks", *masks) == 0
    tmp_path = tmp_path / "gradcam"  # one folder per method
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["method"] == "gradcam" and report["target"] == report["predicted"]
    assert list(report["masks"]) == masks
    for row in report["masks"].values():
        assert set(row) >= {"FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP", "p_in", "p_out"}
        assert all(np.isfinite(v) for v in row.values())
    assert report["sha256"] and report["context_notes"]  # no --data: the fallbacks are named
    assert (tmp_path / "figure.png").stat().st_size > 10_000
    for name in masks:
        for kind in ("in", "out"):
            y, sr = sf.read(tmp_path / "audio" / f"{name}_{kind}.wav")
            assert sr == 16000 and y.shape == (16000,)
    printed = capsys.readouterr().out
    assert "explaining" in printed and "most important slice:" in printed
    assert report["audio"]["gain"] <= 1.0 and "resampled" in report["audio"]["input.wav"]
    assert report["label"] is None and report["label_note"] is None


def test_interpret_slice_writes_best_rectangle(checkpoint, audio, tmp_path):
    code = _run(
        checkpoint, audio, tmp_path, "--method", "slice", "--masks", "bin", "--target", "rain"
    )
    assert code == 0
    tmp_path = tmp_path / "slice"
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["target"] == "rain" and report["options"] == {}
    assert any("clip's own mean" in n for n in report["context_notes"])
    assert np.asarray(report["slice"]["drops"]).shape == (3, 3)
    f0, f1 = report["slice"]["freq_bins"]
    assert 0 <= f0 < f1 <= 64 and report["slice"]["hz"][0] < report["slice"]["hz"][1]
    y, _ = sf.read(tmp_path / "audio" / "slice_best.wav")
    assert y.shape == (16000,)


def test_interpret_bad_arguments(checkpoint, audio, tmp_path, capsys):
    assert _run(checkpoint, audio, tmp_path, "--masks", "topK_10") == 2
    assert "topK_10" in capsys.readouterr().err
    assert _run(checkpoint, audio, tmp_path, "--target", "dog") == 2
    assert _run(checkpoint, audio, tmp_path, "--method", "lime", "--set", "n_samples") == 2
    assert _run(checkpoint, audio, tmp_path, "--method", "lime", "--set", "shap.seed=1") == 2
    with pytest.raises(ParameterError):
        from audiointerp.commands.interpret import method_overrides

        method_overrides(["=3"], ["lime"])


def test_interpret_several_files_and_a_folder_with_one_model(checkpoint, audio, tmp_path,
                                                             monkeypatch, capsys):  # fmt: skip
    """Several files and a folder: one output folder per file and method (the default
    results/interpret/<clip>/<method>), one gain per clip, nothing clips, round Hz ticks."""
    folder = tmp_path / "more"
    (folder / "sub").mkdir(parents=True)
    for path, seconds, sr, channels in ((folder / "a.wav", 0.7, 22050, 1),
                                         (folder / "sub" / "b.flac", 1.6, 48000, 2)):  # fmt: skip
        t = np.arange(int(seconds * sr)) / sr
        y = 0.99 * np.sign(np.sin(2 * np.pi * 300 * t))  # a loud square: masks can exceed it
        sf.write(path, np.stack([y] * channels, 1), sr)
    monkeypatch.chdir(tmp_path)
    argv = ["interpret", "--audio", str(audio), str(folder), "--weights", str(checkpoint)]
    argv += ["--duration-s", "1.0", "--method", "saliency", "slice", "--masks", "minmax", "bin"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "[3/3] b:" in printed and printed.count("most important slice:") == 6
    for clip in ("tone", "a", "b"):
        gains = set()
        for method in ("saliency", "slice"):
            out = tmp_path / "results" / "interpret" / clip / method
            report = json.loads((out / "metrics.json").read_text())
            gains.add(report["audio"]["gain"])
            peaks = [np.abs(sf.read(f)[0]).max() for f in (out / "audio").glob("*.wav")]
            assert len(peaks) == 1 + 2 * 2 + 1 and max(peaks) <= 10 ** (-1 / 20) + 1e-4
        assert len(gains) == 1  # one gain per clip across methods
    from audiointerp.experiments.interactive.report import save_figure

    fig = save_figure(tmp_path / "f.png", np.zeros((64, 20)), np.ones((64, 20)), {},
                      hz=np.geomspace(50, 8000, 64), seconds=1.0, title="t")  # fmt: skip
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks and all(t in {"50", "100", "200", "500", "1k", "2k", "4k", "8k"} for t in ticks)


def test_interpret_says_when_the_label_is_not_a_model_class(checkpoint, tmp_path, capsys):
    """Files of a data set get their labels; a label the model lacks is said everywhere."""
    from conftest import make_esc50

    root = make_esc50(tmp_path / "esc", folds=(1,), seconds=1.0)  # chainsaw, dog, chirping_birds
    files = sorted((root / "audio").glob("*.wav"))
    argv = ["interpret", "--audio", *map(str, files), "--weights", str(checkpoint)]
    argv += ["--data", str(root), "--duration-s", "1.0", "--masks", "bin"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("cannot be right") == 3  # none of the three is a model class
    report = json.loads(next((tmp_path / "out").glob("*/saliency/metrics.json")).read_text())
    assert report["label"] in ("chainsaw", "dog", "chirping_birds")
    assert report["label_known_to_model"] is False and "cannot be right" in report["label_note"]
