"""Hugging Face AST directories through load_classifier (a tiny random ASTConfig model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiointerp.errors import CheckpointError
from audiointerp.interpretation import MethodContext, build_method
from audiointerp.models import load_classifier

transformers = pytest.importorskip("transformers")

SR = 16000
MAX_LENGTH = 120  # frames (1.2 s)
N_MELS = 32


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_length=MAX_LENGTH,
        num_mel_bins=N_MELS,
        num_labels=3,
        id2label={0: "dog", 1: "rain", 2: "siren"},
        label2id={"dog": 0, "rain": 1, "siren": 2},
    )
    model = transformers.ASTForAudioClassification(cfg).eval()
    with torch.no_grad():  # a random model with non-trivial embeddings (HF initialises them at 0)
        emb = model.audio_spectrogram_transformer.embeddings
        emb.position_embeddings.normal_(0, 0.5)
        emb.cls_token.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("hf_ast")
    model.save_pretrained(folder)
    transformers.ASTFeatureExtractor(num_mel_bins=N_MELS, max_length=MAX_LENGTH).save_pretrained(
        folder
    )
    return folder, model


@pytest.fixture(scope="module")
def clf(hf_dir):
    return load_classifier(hf_dir[0], device="cpu")


def signal(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    y = 0.5 * np.sin(2 * np.pi * 440 * t) * (t > 0.3) + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def test_round_trip_weights_classes_and_frontend(hf_dir, clf):
    folder, original = hf_dir
    assert clf.classes == ["dog", "rain", "siren"]
    assert clf.model.kind == "transformer" and "attention" in clf.model.capabilities
    fc = clf.frontend.config
    assert (fc.sr, fc.n_mels, fc.hop_length, fc.win_length, fc.center) == (
        SR,
        N_MELS,
        160,
        400,
        False,
    )
    x = torch.randn(2, MAX_LENGTH, N_MELS)
    with torch.no_grad():  # the saved weights come back exactly
        torch.testing.assert_close(
            clf.model.hf(input_values=x).logits, original(input_values=x).logits
        )
    # a clip of the model's length fills max_length frames exactly
    n = round(clf.meta["duration_s"] * SR)
    assert clf.frontend.n_frames(n) == MAX_LENGTH
    assert clf.sha256 == load_classifier(folder, device="cpu").sha256


def test_features_match_the_extractor(hf_dir, clf):
    """Our frontend + the model's input adapter reproduce ASTFeatureExtractor closely."""
    folder, original = hf_dir
    extractor = transformers.ASTFeatureExtractor.from_pretrained(folder)
    y = signal()
    ref = extractor(y, sampling_rate=SR, return_tensors="pt")["input_values"]  # (1, 120, 32)
    with torch.no_grad():
        feats = clf.frontend.features(torch.from_numpy(y)[None])
        ours = clf.model.input_values(feats)
    n = feats.shape[-1]  # real frames (the rest is padding in both)
    diff = ours[0, :n] - ref[0, :n]
    # one normalised unit is 2 * 4.569 * 10 / ln 10 = 39.7 dB: mean error under 2.4 dB,
    # no bias over 0.5 dB
    assert float(diff.abs().mean()) < 0.06
    assert abs(float(diff.mean())) < 0.0125
    kaldi_frames = 1 + (len(y) - 400) // 160  # one more than ours: see the hf_ast docstring
    assert kaldi_frames == n + 1
    torch.testing.assert_close(ours[0, n + 1 :], ref[0, n + 1 :])  # zeros in the log domain
    with torch.no_grad():
        ref_logits = original(input_values=ref).logits
        our_logits = clf.model(feats)
    torch.testing.assert_close(our_logits, ref_logits, atol=0.05, rtol=0.0)


def test_attention_and_token_layout(clf):
    feats = clf.frontend.features(torch.from_numpy(signal())[None])
    logits, attentions = clf.model.attend(feats)
    layout = clf.model.token_layout(N_MELS, feats.shape[-1])
    # HF: ((F - 16) // 10 + 1) x ((max_length - 16) // 10 + 1) patches after CLS + distillation
    assert layout.grid == (2, 11) and layout.n_special == 2
    assert len(attentions) == 2 and attentions[0].shape == (1, 2, 24, 24)
    assert torch.equal(logits, clf.model(feats))
    assert clf.model.hidden(feats)["layer2"].shape == (1, 32, 2, 11)


@pytest.mark.parametrize(
    "name", ["saliency", "gradcam", "amt", "rollout", "grad_attention", "shap"]
)
def test_methods_run_on_a_hugging_face_ast(clf, name):
    feats = clf.frontend.features(torch.from_numpy(signal())[None]).clone()
    ctx = MethodContext(clf.model, clf.frontend)
    options = {"n_samples": 4} if name == "shap" else {}
    ex = build_method(name, options, ctx).explain(clf.model, feats)
    a = ex.attributions
    assert a.shape == feats.shape and torch.isfinite(a).all() and a.abs().sum() > 0
    if name == "shap":
        assert ex.info["explainer"] == "gradient"


def test_bad_directories(tmp_path, hf_dir):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        load_classifier(tmp_path / "empty")
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="audio-spectrogram-transformer"):
        load_classifier(other)
    folder, _ = hf_dir
    broken = tmp_path / "noweights"
    broken.mkdir()
    (broken / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(CheckpointError, match="weights"):
        load_classifier(broken)


def test_missing_extra_is_a_clear_error(hf_dir, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name == "transformers":
            raise ImportError("no transformers")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    with pytest.raises(CheckpointError, match=r"\.\[hf\]"):
        load_classifier(hf_dir[0])
