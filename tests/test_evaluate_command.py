"""The own-data walkthrough on the CLI: class selection, a stratified split, training, and
`evaluate` with the same selection options, unknown classes left out, and a noise file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from test_training import tiny_config

from audiointerp.cli import main
from audiointerp.config import save_yaml


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-class model (dog, chirping_birds) trained on a 3-class ESC-50 folder."""
    from conftest import make_esc50

    tmp = tmp_path_factory.mktemp("walk")
    root = make_esc50(tmp / "esc", per_fold=2, seconds=0.5, sr=44100, esc10=("dog",))
    cfg = tiny_config(epochs=1)
    cfg.data.root = str(root)
    config = tmp / "tiny.yaml"
    save_yaml(cfg, config)
    out = tmp / "run"
    argv = ["train", "--config", str(config), "--out", str(out), "--no-progress"]
    argv += ["--classes", "dog", "chirping_birds", "--set", "data.split={valid: 0.2, test: 0.2}"]
    assert main(argv) == 0
    return root, out / "model.pt", tmp


def test_training_on_selected_classes_with_a_stratified_split(trained, capsys):
    _, weights, tmp = trained
    metrics = json.loads((weights.parent / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_valid"], metrics["n_test"]) == (12, 4, 4)
    assert metrics["split_warnings"] == []
    from audiointerp.models import load_classifier

    assert load_classifier(weights).classes == ["dog", "chirping_birds"]


def _evaluate(weights, root, out, *extra):
    return main(
        ["evaluate", "--weights", str(weights), "--data", str(root), "--out", str(out), *extra]
    )


def test_evaluate_leaves_out_and_names_classes_the_model_does_not_know(trained, capsys):
    root, weights, tmp = trained
    assert _evaluate(weights, root, tmp / "e1") == 0
    printed = capsys.readouterr().out
    assert "on 20 clips" in printed
    assert "left out: 10 clip(s) of 1 class(es) the model does not know: chainsaw (10)" in printed
    confusion = pd.read_csv(tmp / "e1" / "confusion.csv", index_col=0)
    assert list(confusion.index) == ["dog", "chirping_birds"] and confusion.to_numpy().sum() == 20
    assert _evaluate(weights, root, tmp / "e2", "--classes", "dog") == 0
    printed = capsys.readouterr().out
    assert "on 10 clips" in printed and "left out" not in printed
    assert _evaluate(weights, root, tmp / "e3", "--esc10") == 0
    assert "on 10 clips" in capsys.readouterr().out
    assert _evaluate(weights, root, tmp / "e4", "--classes", "chainsaw") == 2
    err = capsys.readouterr().err
    assert "none of its 10 clips" in err and "--classes" in err


def test_evaluate_under_a_noise_file_with_snr_or_alpha(trained, capsys, tmp_path):
    root, weights, _ = trained
    noise = tmp_path / "horse.wav"
    sf.write(noise, 0.2 * np.random.default_rng(0).standard_normal(22050), 22050)
    assert _evaluate(weights, root, tmp_path / "a", "--classes", "dog", "--noise", str(noise)) == 0
    assert "condition horse)" in capsys.readouterr().out
    argv = ["--classes", "dog", "--noise", str(noise), "--snr-db", "5"]
    assert _evaluate(weights, root, tmp_path / "s", *argv) == 0
    assert "condition horse_snr5)" in capsys.readouterr().out
    assert _evaluate(weights, root, tmp_path / "x", "--snr-db", "5") == 2
    assert "--snr-db needs --noise" in capsys.readouterr().err
