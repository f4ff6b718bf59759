"""Checkpoints: round trip of our format, PANNs loading, and every kind of bad file."""

from __future__ import annotations

import pickle

import pytest
import torch
from test_models import fake_panns_state

from audiointerp.errors import CheckpointError
from audiointerp.models import (
    FORMAT,
    CnnConfig,
    build_model,
    load_classifier,
    load_panns_weights,
    read_checkpoint,
    save_classifier,
)
from audiointerp.processing import FrontendConfig

FRONTEND = FrontendConfig(kind="mel", n_mels=32)
CLASSES = ["a", "b", "c"]


def _tiny(num_bins: int = 32):
    cfg = CnnConfig(arch="cnn6", width=1 / 16)
    model = build_model("cnn6", num_classes=3, num_bins=num_bins, width=cfg.width).eval()
    return model, cfg


@pytest.fixture
def saved(tmp_path):
    model, cfg = _tiny()
    path = save_classifier(
        tmp_path / "clf.pt",
        model,
        model_config=cfg,
        frontend_config=FRONTEND,
        classes=CLASSES,
        meta={"seed": 3},
    )
    return path, model


def test_round_trip_restores_model_frontend_classes_and_meta(saved):
    path, model = saved
    loaded = load_classifier(path, device="cpu")
    assert loaded.classes == CLASSES and loaded.meta == {"seed": 3}
    assert loaded.frontend.config == FRONTEND and loaded.frontend.n_bins == 32
    assert not loaded.model.training
    wave = torch.randn(2, 16000)
    feats = loaded.frontend.features(wave)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(feats), model(feats))
    raw = read_checkpoint(path)
    assert (
        raw["format"] == FORMAT
        and raw["model"]["num_bins"] == 32
        and raw["model"]["arch"] == "cnn6"
    )


def test_pickle_carrying_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    zipped = tmp_path / "evil.pt"
    torch.save({"model_state_dict": Payload()}, zipped)
    legacy = tmp_path / "evil.pkl"
    legacy.write_bytes(pickle.dumps({"model": Payload()}))
    for path in (zipped, legacy):
        with pytest.raises(CheckpointError, match=path.name):
            load_classifier(path)
        with pytest.raises(CheckpointError):
            load_panns_weights(_tiny()[0], path)
    assert not marker.exists()


def test_truncated_and_foreign_files_get_clear_errors(saved, tmp_path):
    path, _ = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_classifier(cut)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pt"):
        load_classifier(text)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_classifier(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not an audiointerp classifier"):
        load_classifier(other)


def test_mismatched_shapes_are_named(saved, tmp_path):
    path, _ = saved
    obj = read_checkpoint(path)
    obj["model_state_dict"]["fc1.weight"] = torch.zeros(5, 5)
    bad = tmp_path / "bad.pt"
    torch.save(obj, bad)
    with pytest.raises(CheckpointError, match=r"fc1\.weight"):
        load_classifier(bad)


@pytest.fixture(scope="module")
def panns_cnn6(tmp_path_factory):
    path = tmp_path_factory.mktemp("pretrained") / "Cnn6_mAP=0.343.pth"
    torch.save({"model": fake_panns_state("cnn6", seed=4)}, path)
    return path


def test_panns_file_loads_into_backbone_dropping_extractor_and_head(panns_cnn6):
    sd = fake_panns_state("cnn6", seed=4)
    model = build_model("cnn6", num_classes=10, num_bins=64)
    head_before = model.fc_out.weight.clone()
    skipped = load_panns_weights(model, panns_cnn6)
    assert skipped == ["fc_out.weight", "fc_out.bias"]
    state = model.state_dict()
    torch.testing.assert_close(state["bn0.running_var"], sd["bn0.running_var"])
    # kernels are transposed: PANNs convolves (T, F) images, we convolve (F, T)
    torch.testing.assert_close(
        state["conv_block2.conv1.weight"], sd["conv_block2.conv1.weight"].transpose(-1, -2)
    )
    torch.testing.assert_close(state["fc1.weight"], sd["fc1.weight"])
    assert torch.equal(model.fc_out.weight, head_before)


def test_panns_bn0_is_skipped_when_bins_differ(panns_cnn6):
    model = build_model("cnn6", num_classes=10, num_bins=257)
    skipped = load_panns_weights(model, panns_cnn6)
    assert [k for k in skipped if k.startswith("bn0.")] == [
        "bn0.weight",
        "bn0.bias",
        "bn0.running_mean",
        "bn0.running_var",
        "bn0.num_batches_tracked",
    ]
    assert torch.equal(model.bn0.running_var, torch.ones(257))


def test_panns_file_of_another_architecture_or_width_is_refused(panns_cnn6, tmp_path):
    with pytest.raises(CheckpointError, match="does not fit cnn10"):
        load_panns_weights(build_model("cnn10", num_classes=2, num_bins=64), panns_cnn6)
    with pytest.raises(CheckpointError, match="width 1.0"):
        load_panns_weights(build_model("cnn6", num_classes=2, num_bins=64, width=0.5), panns_cnn6)
    ours = tmp_path / "ours.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2)}}, ours)
    with pytest.raises(CheckpointError, match="Zenodo"):
        load_panns_weights(build_model("cnn6", num_classes=2, num_bins=64), ours)
    with pytest.raises(CheckpointError, match="PANNs release file"):
        load_classifier(panns_cnn6)
