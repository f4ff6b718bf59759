"""Trainer: outputs, bit-exact resume, early stopping, augmentation, configs, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from audiointerp.cli import main
from audiointerp.config import save_yaml
from audiointerp.data.config import DataConfig
from audiointerp.errors import CheckpointError, ParameterError
from audiointerp.models import (
    CnnConfig,
    OptimConfig,
    Split,
    Splits,
    TrainConfig,
    evaluate_waves,
    load_classifier,
    load_train_config,
    mixup,
    read_checkpoint,
    spec_augment,
    train,
)
from audiointerp.processing import FrontendConfig

ROOT = Path(__file__).resolve().parents[1]
SR = 8000
N = 4000  # 0.5 s clips


def tiny_config(**train_options) -> TrainConfig:
    options = dict(
        epochs=3,
        batch_size=8,
        lr=3e-3,
        freq_mask=3,
        time_mask=4,
        patience=None,
        eval_batch_size=16,
        device="cpu",
    )
    options.update(train_options)
    return TrainConfig(
        data=DataConfig(root="unused", duration_s=N / SR),
        frontend=FrontendConfig(
            kind="mel",
            sr=SR,
            n_fft=256,
            win_length=256,
            hop_length=128,
            n_mels=16,
            fmin=50.0,
            fmax=4000.0,
        ),
        model=CnnConfig(arch="cnn6", width=1 / 16),
        train=OptimConfig(**options),
    )


def toy_splits(seed: int = 0) -> Splits:
    """Three classes of noisy tones at 300, 900 and 2000 Hz."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(N) / SR

    def split(n: int) -> Split:
        labels = torch.arange(n) % 3
        freqs = torch.tensor([300.0, 900.0, 2000.0])[labels]
        waves = 0.5 * torch.sin(2 * math.pi * freqs[:, None] * t) + 0.1 * torch.randn(
            n, N, generator=gen
        )
        return Split(waves.float(), labels, [f"clip{i}" for i in range(n)])

    return Splits(split(24), split(9), split(9), classes=["low", "mid", "high"])


def test_training_writes_every_output_and_learns(tmp_path):
    splits = toy_splits()
    result = train(tiny_config(), tmp_path / "run", splits=splits, progress=False)
    out = result.out_dir
    for name in (
        "config.yaml",
        "last.pt",
        "model.pt",
        "history.csv",
        "learning_curve.png",
        "confusion_test.csv",
        "confusion_test.png",
        "metrics.json",
    ):
        assert (out / name).is_file(), name
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    confusion = pd.read_csv(out / "confusion_test.csv", index_col=0)
    assert (
        confusion.to_numpy().sum() == len(splits.test) and list(confusion.columns) == splits.classes
    )
    metrics = json.loads((out / "metrics.json").read_text())
    loaded = load_classifier(result.checkpoint, device="cpu")
    again = evaluate_waves(
        loaded.model, loaded.frontend, splits.test.waves, splits.test.labels, num_classes=3
    )
    assert again.accuracy == pytest.approx(metrics["test_accuracy"])
    assert loaded.classes == splits.classes and loaded.meta["best_epoch"] == metrics["best_epoch"]


def test_resumed_run_ends_with_bit_identical_weights(tmp_path):
    splits = toy_splits()
    cfg = tiny_config(mixup_alpha=0.4, schedule="cosine")
    reference = train(cfg, tmp_path / "straight", splits=splits, progress=False)

    class Killed(Exception):
        pass

    def crash_after_first_epoch(epoch, record):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(
            cfg,
            tmp_path / "resumed",
            splits=splits,
            progress=False,
            on_epoch_end=crash_after_first_epoch,
        )
    assert read_checkpoint(tmp_path / "resumed" / "last.pt")["state"]["epoch"] == 1
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    resumed = train(cfg, tmp_path / "resumed", splits=splits, progress=False)

    for name in ("model.pt", "last.pt"):
        a = read_checkpoint(reference.out_dir / name)
        b = read_checkpoint(resumed.out_dir / name)
        key = "model_state_dict" if name == "model.pt" else "model"
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (name, k)
    cols = ["train_loss", "train_acc", "valid_loss", "valid_acc", "lr"]
    pd.testing.assert_frame_equal(reference.history[cols], resumed.history[cols])


def test_restart_with_another_config_is_refused(tmp_path):
    splits = toy_splits()
    train(tiny_config(epochs=1), tmp_path / "run", splits=splits, progress=False)
    with pytest.raises(CheckpointError, match="different config"):
        train(tiny_config(epochs=2, lr=1e-3), tmp_path / "run", splits=splits, progress=False)


def test_early_stopping_after_patience_epochs_without_improvement(tmp_path):
    # a vanishing learning rate cannot improve validation accuracy after epoch 1
    result = train(
        tiny_config(epochs=6, lr=1e-12, patience=2),
        tmp_path / "run",
        splits=toy_splits(),
        progress=False,
    )
    assert result.metrics["epochs_run"] == 3 and result.metrics["best_epoch"] == 1


def test_spec_augment_masks_bands_with_the_clip_mean():
    x = torch.randn(4, 1, 20, 30)
    before = x.clone()
    y = spec_augment(
        x,
        freq_mask=5,
        time_mask=6,
        n_freq_masks=1,
        n_time_masks=1,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(x, before)
    changed = y != x
    mean = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    assert torch.equal(y[changed], mean[changed])
    for b in range(4):
        rows = changed[b, 0].all(dim=1).sum()  # fully masked frequency rows
        cols = changed[b, 0].all(dim=0).sum()  # fully masked frames
        assert rows <= 5 and cols <= 6
    again = spec_augment(
        x,
        freq_mask=5,
        time_mask=6,
        n_freq_masks=1,
        n_time_masks=1,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(y, again)
    off = spec_augment(x, freq_mask=0, time_mask=0, generator=torch.Generator())
    assert torch.equal(off, x)


def test_spec_augment_floor_fill_writes_the_given_value_in_the_same_bands():
    x = torch.randn(3, 1, 20, 30)
    kwargs = dict(freq_mask=5, time_mask=6, n_freq_masks=1, n_time_masks=1)
    by_mean = spec_augment(x, generator=torch.Generator().manual_seed(1), **kwargs)
    by_floor = spec_augment(x, generator=torch.Generator().manual_seed(1), fill=-100.0, **kwargs)
    changed = by_floor != x
    assert changed.any()
    assert torch.all(by_floor[changed] == -100.0)
    assert torch.equal(changed, by_mean != x)  # the fill does not change which bands


def test_mask_fill_option_is_validated():
    from audiointerp.errors import ParameterError
    from audiointerp.models.train_config import OptimConfig

    assert OptimConfig(mask_fill="floor").mask_fill == "floor"
    assert OptimConfig(mask_fill="zero").mask_fill == "zero"  # the study's torchaudio fill
    with pytest.raises(ParameterError, match="mask_fill"):
        OptimConfig(mask_fill="noise")


def test_mixup_is_a_convex_combination_with_a_permutation():
    x = torch.randn(6, 1, 4, 5)
    labels = torch.arange(6)
    mixed, la, lb, lam = mixup(x, labels, alpha=0.4, generator=torch.Generator().manual_seed(1))
    assert 0.0 <= lam <= 1.0 and torch.equal(la, labels)
    assert sorted(lb.tolist()) == labels.tolist()
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[lb])


@pytest.mark.parametrize(
    "name", ["default_mel", "default_stft", "paper_esc50_mel", "paper_esc50_stft"]
)
def test_shipped_configs_load(name):
    cfg = load_train_config(ROOT / "configs" / f"{name}.yaml")
    assert (
        cfg.data.train_folds == (1, 2, 3)
        and cfg.data.valid_folds == (4,)
        and cfg.data.test_folds == (5,)
    )
    assert cfg.frontend.kind == name.rsplit("_", 1)[-1]


def test_paper_configs_hold_the_papers_setting():
    cfg = load_train_config(ROOT / "configs" / "paper_esc50_mel.yaml")
    assert cfg.model.arch == "transfer_cnn14" and cfg.model.width == 1.0
    assert cfg.model.pretrained.startswith("pretrained/Cnn14")
    assert (cfg.frontend.sr, cfg.frontend.n_fft, cfg.frontend.hop_length, cfg.frontend.n_mels) == (
        32000,
        1024,
        320,
        64,
    )
    t = cfg.train
    assert (t.lr, t.epochs, t.batch_size, t.freq_mask, t.time_mask) == (1e-4, 20, 32, 10, 20)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ParameterError, match="valid_folds"):
        DataConfig(train_folds=(1, 2), valid_folds=(2,))
    with pytest.raises(ParameterError, match="unknown key"):
        load_train_config(ROOT / "configs" / "default_mel.yaml", {"train.epoch": 3})


def test_paper_config_dry_run_on_an_esc50_fixture(esc50_factory, tmp_path):
    """One epoch of the paper's recipe (with a tiny width, no PANNs file) on an ESC-50 layout."""
    root = esc50_factory(per_fold=1, seconds=1.0)
    cfg = load_train_config(
        ROOT / "configs" / "paper_esc50_mel.yaml",
        {
            "data.root": str(root),
            "data.duration_s": 1.0,
            "model.width": 1 / 32,
            "model.pretrained": None,
            "train.epochs": 1,
            "train.device": "cpu",
        },
    )
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.metrics["n_train"] == 9 and result.metrics["epochs_run"] == 1
    loaded = load_classifier(result.checkpoint, device="cpu")
    assert loaded.classes == ["dog", "chirping_birds", "chainsaw"]
    assert loaded.frontend.config.sr == 32000


def test_cli_train_and_evaluate(esc50_factory, tmp_path, capsys):
    root = esc50_factory(per_fold=1, seconds=0.5, sr=8000)
    cfg = tiny_config(epochs=1)
    cfg.data.root = str(root)
    config = tmp_path / "tiny.yaml"
    save_yaml(cfg, config)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert (
        main(
            [
                "evaluate",
                "--weights",
                str(out / "model.pt"),
                "--data",
                str(root),
                "--folds",
                "4",
                "5",
                "--out",
                str(tmp_path / "eval"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "6 clips" in printed
    confusion = pd.read_csv(tmp_path / "eval" / "confusion.csv", index_col=0)
    assert confusion.to_numpy().sum() == 6
