"""Regression corpus, malformed checkpoints: each is refused before use with the file named,
the problem said and a fix that exists; evaluation never reports numbers from broken outputs."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

from audiointerp import cli
from audiointerp.errors import CheckpointError, ParameterError
from audiointerp.models import build_model, load_classifier, read_checkpoint, save_classifier
from audiointerp.models.checkpoints import atomic_torch_save
from audiointerp.models.evaluation import evaluate_waves
from audiointerp.processing import FrontendConfig, build_frontend

CLASSES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    fc = FrontendConfig(kind="mel", sr=16000, n_fft=256, win_length=256, hop_length=128, n_mels=16)
    torch.manual_seed(0)
    model = build_model("cnn6", num_classes=len(CLASSES), num_bins=fc.n_bins, width=0.125)
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    return save_classifier(
        path, model, model_config={"arch": "cnn6", "width": 0.125}, frontend_config=fc,
        classes=CLASSES,
    )  # fmt: skip


def _edit(good: Path, tmp_path: Path, name: str, change) -> Path:
    obj = torch.load(good, weights_only=True)
    change(obj)
    path = tmp_path / f"{name}.pt"
    torch.save(obj, path)
    return path


def _state(fn):
    def change(obj):
        obj["model_state_dict"] = {k: fn(k, v) for k, v in obj["model_state_dict"].items()}

    return change


def _nan_first(k, v):
    return v * float("nan") if k == "bn0.weight" else v


CASES = {
    "model_is_string": (lambda o: o.update(model="cnn6"), r"its `model` entry is str, not a mapping"),
    "state_of_ints": (_state(lambda k, v: 1), r"entries are not tensors: bn0\.weight \(int\)"),
    "state_is_list": (lambda o: o.update(model_state_dict=[1, 2]), r"`model_state_dict` entry is list"),
    "nan_weights": (_state(_nan_first), r"weights hold NaN or Inf values in bn0\.weight"),
    "inf_weights": (
        _state(lambda k, v: v + float("inf") if k.endswith("fc_out.bias") else v),
        r"NaN or Inf values in fc_out\.bias",
    ),
    "short_classes": (lambda o: o.update(classes=["a", "b"]), r"names 2 classes but its model has 3 outputs"),
    "classes_string": (lambda o: o.update(classes="abc"), r"`classes` must be a list of distinct"),
    "duplicate_classes": (lambda o: o.update(classes=["a", "a", "c"]), r"distinct class names"),
    "num_classes_text": (
        lambda o: o["model"].update(num_classes="three"),
        r"model\.num_classes is 'three', not a positive integer",
    ),
    "bad_frontend": (lambda o: o["frontend"].update(sr="fast"), r"frontend: sr: expected an integer"),
    "frontend_bins": (lambda o: o["frontend"].update(n_mels=32), r"frontend gives 32 frequency bins but"),
    "float_counter": (
        _state(lambda k, v: v.double() if k.endswith("num_batches_tracked") else v),
        r"num_batches_tracked: file torch\.float64 vs model torch\.int64",
    ),
    "missing_entry": (lambda o: o.pop("frontend"), r"lacks \['frontend'\]; it is incomplete"),
    "meta_not_mapping": (lambda o: o.update(meta=[1]), r"`meta` entry is not a mapping"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_checkpoint_is_refused_naming_file_and_fix(good, tmp_path, case):
    change, pattern = CASES[case]
    path = _edit(good, tmp_path, case, change)
    with pytest.raises(CheckpointError, match=pattern) as err:
        load_classifier(path, device="cpu")
    msg = str(err.value)
    assert str(path) in msg and "train it again" in msg


def test_good_checkpoint_still_loads(good):
    clf = load_classifier(good, device="cpu")
    assert clf.classes == CLASSES and not clf.model.training


def test_empty_garbage_folder_and_unreadable_files_get_their_own_cause(good, tmp_path, monkeypatch):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt is empty \(0 bytes\)"):
        read_checkpoint(empty)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"PK\x03\x04 not a zip" * 20)
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        read_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="is a folder, not a file"):
        read_checkpoint(tmp_path)
    real_open = open

    def denied(file, *args, **kwargs):
        if str(file) == str(good):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(good)
    assert "permission denied; make it readable" in str(err.value)
    assert "truncated" not in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_checkpoint_on_disk(good, tmp_path):
    path = tmp_path / "locked.pt"
    path.write_bytes(good.read_bytes())
    path.chmod(0)
    with pytest.raises(CheckpointError, match="permission denied"):
        read_checkpoint(path)


def test_cli_evaluate_exits_2_on_malformed_checkpoints(good, tmp_path, capsys):
    for case in ("model_is_string", "state_of_ints", "nan_weights", "short_classes"):
        path = _edit(good, tmp_path, case, CASES[case][0])
        assert cli.main(["evaluate", "--weights", str(path), "--data", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"checkpoint {path}" in err and "Traceback" not in err
    empty = tmp_path / "zero.pt"
    empty.write_bytes(b"")
    assert cli.main(["evaluate", "--weights", str(empty), "--data", str(tmp_path)]) == 2
    assert "is empty (0 bytes)" in capsys.readouterr().err


def test_evaluation_refuses_nan_outputs_and_class_count_mismatch(good):
    clf = load_classifier(good, device="cpu")
    waves = torch.randn(4, 16000) * 0.1
    labels = torch.tensor([0, 1, 2, 0])
    ok = evaluate_waves(clf.model, clf.frontend, waves, labels, num_classes=3)
    assert ok.confusion.sum() == 4
    with pytest.raises(ParameterError, match="has 3 outputs but 2 classes were given"):
        evaluate_waves(clf.model, clf.frontend, waves, labels, num_classes=2)
    with torch.no_grad():
        clf.model.fc_out.bias.fill_(float("nan"))
    with pytest.raises(ParameterError, match="NaN or Inf outputs for 4 of 4 clips"):
        evaluate_waves(clf.model, clf.frontend, waves, labels, num_classes=3)
    fresh = build_frontend(clf.frontend.config)
    assert fresh.n_bins == clf.frontend.n_bins


def test_atomic_save_leaves_nothing_on_a_full_disk_and_honours_umask(tmp_path, monkeypatch):
    target = tmp_path / "ck.pt"
    old = os.umask(0o022)
    try:
        atomic_torch_save({"x": torch.zeros(2)}, target)
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600

    def full(obj, fh, *args, **kwargs):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError) as err:
        atomic_torch_save({"x": torch.ones(2)}, target)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # old file kept, no temp
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.zeros(2))
