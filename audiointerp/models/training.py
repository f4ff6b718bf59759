"""The trainer: Adam + cross-entropy with SpecAugment/mixup, best-on-validation, resumable.

A run writes into one folder::

    config.yaml          the full TrainConfig (a restart must use the same one)
    last.pt              resume state after the last finished epoch
    model.pt             best-on-validation classifier (audiointerp checkpoint format)
    history.csv          loss and accuracy per epoch
    learning_curve.png
    confusion_test.csv / confusion_test.png
    metrics.json         written last: test accuracy, training time, machine

Restarting the same command after a crash continues from ``last.pt`` and ends with the same
weights as an uninterrupted run: every epoch draws its data order, augmentation and dropout
from generators seeded by ``(seed, epoch)``, so no RNG state has to survive the crash.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from audiointerp.config import load_yaml, save_yaml, to_dict
from audiointerp.errors import CheckpointError
from audiointerp.models.augment import mask_fill_value, mixup, spec_augment, time_roll
from audiointerp.models.checkpoints import (
    atomic_torch_save,
    load_panns_weights,
    read_checkpoint,
    save_classifier,
)
from audiointerp.models.evaluation import evaluate_waves, plot_learning_curve, write_confusion
from audiointerp.models.registry import model_from_config
from audiointerp.models.splits import Split, Splits, load_splits
from audiointerp.models.train_config import TrainConfig
from audiointerp.processing import Frontend, build_frontend
from audiointerp.progress import progress_bar
from audiointerp.runtime import default_device, seed_everything, tune_allocator

log = logging.getLogger(__name__)

RESUME_FORMAT = "audiointerp-train-state/1"
EpochHook = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    out_dir : Path
        Run folder.
    checkpoint : Path
        Best-on-validation classifier (``out_dir / "model.pt"``).
    history : pandas.DataFrame
        One row per epoch.
    metrics : dict
        Contents of ``metrics.json``.
    """

    out_dir: Path
    checkpoint: Path
    history: pd.DataFrame
    metrics: dict[str, Any]


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's generators, distinct across (seed, epoch) pairs."""
    return (seed * 1_000_003 + epoch * 7919 + 1) % (2**63)


def machine_description() -> str:
    """Short description of the hardware, for model cards."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU threads, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def train_epoch(
    model: nn.Module,
    frontend: Frontend,
    data: Split,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    generator: torch.Generator,
    *,
    progress: bool,
    desc: str,
) -> dict[str, float]:
    tc = cfg.train
    model.train()
    order = torch.randperm(len(data), generator=generator)
    device = data.waves.device
    loss_sum, correct, seen = 0.0, 0, 0
    bar = progress_bar(  # batches: a live bar on a terminal, silent in logs (one line per epoch)
        range(0, len(order), tc.batch_size),
        desc=desc,
        unit="batch",
        leave=False,
        disable=not progress,
        lines=False,
    )
    for start in bar:
        idx = order[start : start + tc.batch_size].to(device)
        labels = data.labels[idx]
        with torch.no_grad():
            feats = frontend.features(data.waves[idx])  # (B, 1, F, T)
            feats = spec_augment(
                feats,
                freq_mask=tc.freq_mask,
                time_mask=tc.time_mask,
                n_freq_masks=tc.n_freq_masks,
                n_time_masks=tc.n_time_masks,
                generator=generator,
                fill=mask_fill_value(tc.mask_fill, frontend.floor_db),
            )
            if tc.time_roll:
                feats = time_roll(feats, generator=generator)
        if tc.mixup_alpha > 0:
            feats, labels_a, labels_b, lam = mixup(
                feats, labels, alpha=tc.mixup_alpha, generator=generator
            )
            logits = model(feats)
            ce = nn.functional.cross_entropy
            loss = lam * ce(logits, labels_a) + (1 - lam) * ce(logits, labels_b)
        else:
            logits = model(feats)
            loss = nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = len(idx)
        loss_sum += loss.item() * n
        correct += int((logits.argmax(1) == labels).sum())
        seen += n
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
    return {"train_loss": loss_sum / seen, "train_acc": correct / seen}


def _make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    tc = cfg.train
    if tc.warmup_epochs:  # linear warm-up over the first epochs, then the schedule
        w, n, low = tc.warmup_epochs, tc.epochs, tc.min_lr_ratio

        def factor(epoch: int) -> float:
            if epoch < w:
                return (epoch + 1) / w
            if tc.schedule != "cosine":
                return 1.0
            return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * (epoch - w) / max(1, n - w)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if tc.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=tc.epochs, eta_min=tc.lr * tc.min_lr_ratio
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _check_same_config(out_dir: Path, cfg: TrainConfig) -> None:
    saved = out_dir / "config.yaml"
    if (out_dir / "last.pt").exists() and saved.exists():
        if load_yaml(saved) != to_dict(cfg):
            raise CheckpointError(
                f"{out_dir} holds a run with a different config ({saved}); restart with that "
                "config to resume it, or pass another output folder"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(cfg, saved)


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    splits: Splits | None = None,
    progress: bool = True,
    on_epoch_end: EpochHook | None = None,
) -> TrainResult:
    """Train (or resume training) a classifier and evaluate it on the test folds.

    Parameters
    ----------
    cfg : TrainConfig
        The run's configuration.
    out_dir : str or Path
        Run folder; if it holds ``last.pt`` of the same config, training resumes from it.
    splits : Splits, optional
        Data already in memory (otherwise loaded from ``cfg.data``).
    progress : bool
        Show tqdm progress bars.
    on_epoch_end : callable, optional
        ``hook(epoch, record)`` called after each epoch's state is saved.

    Returns
    -------
    TrainResult
    """
    tune_allocator()
    out_dir = Path(out_dir)
    _check_same_config(out_dir, cfg)
    tc = cfg.train
    device = default_device(tc.device)
    seed_everything(tc.seed)
    frontend = build_frontend(cfg.frontend).to(device)
    if splits is None:
        splits = load_splits(cfg.data, sr=cfg.frontend.sr)
    train_set, valid_set = splits.train.to(device), splits.valid.to(device)
    num_classes = len(splits.classes)
    model = model_from_config(cfg.model, num_classes=num_classes, num_bins=frontend.n_bins)
    if cfg.model.pretrained:
        load_panns_weights(model, cfg.model.pretrained)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = _make_scheduler(optimizer, cfg)
    state = {
        "epoch": 0,
        "history": [],
        "best_acc": -1.0,
        "best_epoch": 0,
        "bad_epochs": 0,
        "train_seconds": 0.0,
        "best_state": None,
    }
    resume_path = out_dir / "last.pt"
    if resume_path.exists():
        saved = read_checkpoint(resume_path)
        if not isinstance(saved, dict) or saved.get("format") != RESUME_FORMAT:
            raise CheckpointError(
                f"{resume_path} is not a training state; delete it to start afresh"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        log.info("resuming %s after epoch %d", out_dir, state["epoch"])

    stopped = state["bad_epochs"] >= (tc.patience or float("inf"))
    log.info(
        "training %s on %d clips (%d classes), validating on %d, epochs %d-%d on %s",
        cfg.model.arch,
        len(splits.train),
        num_classes,
        len(splits.valid),
        state["epoch"] + 1,
        tc.epochs,
        device,
    )
    epochs = progress_bar(
        total=tc.epochs - state["epoch"], desc="epochs", unit="epoch", disable=not progress
    )
    for epoch in range(state["epoch"], tc.epochs) if not stopped else ():
        t0 = time.perf_counter()
        es = epoch_seed(tc.seed, epoch)
        seed_everything(es)  # dropout draws from the global generator
        generator = torch.Generator().manual_seed(es)
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        record |= train_epoch(
            model,
            frontend,
            train_set,
            optimizer,
            cfg,
            generator,
            progress=progress,
            desc=f"epoch {epoch + 1}",
        )
        scheduler.step()
        val = evaluate_waves(
            model,
            frontend,
            valid_set.waves,
            valid_set.labels,
            num_classes=num_classes,
            batch_size=tc.eval_batch_size,
        )
        record |= {
            "valid_loss": val.loss,
            "valid_acc": val.accuracy,
            "seconds": time.perf_counter() - t0,
        }
        state["history"].append(record)
        state["train_seconds"] += record["seconds"]
        if val.accuracy > state["best_acc"]:
            state.update(
                best_acc=val.accuracy,
                best_epoch=epoch + 1,
                bad_epochs=0,
                best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            )
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        atomic_torch_save(
            {
                "format": RESUME_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": state,
            },
            resume_path,
        )
        pd.DataFrame(state["history"]).to_csv(out_dir / "history.csv", index=False)
        epochs.set_postfix(
            epoch=epoch + 1,
            train_loss=f"{record['train_loss']:.3f}",
            train_acc=f"{record['train_acc']:.2f}",
            valid_acc=f"{val.accuracy:.2f}",
        )
        epochs.update(1)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
        if tc.patience is not None and state["bad_epochs"] >= tc.patience:
            log.info("early stop after epoch %d (best %d)", epoch + 1, state["best_epoch"])
            break
    epochs.close()
    return _finish(cfg, out_dir, model, frontend, splits, state, device)


def _finish(
    cfg: TrainConfig,
    out_dir: Path,
    model: nn.Module,
    frontend: Frontend,
    splits: Splits,
    state: dict[str, Any],
    device: torch.device,
) -> TrainResult:
    """Restore the best weights, evaluate on test, write the checkpoint, figures and metrics."""
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    test = splits.test.to(device)
    num_classes = len(splits.classes)
    result = evaluate_waves(
        model,
        frontend,
        test.waves,
        test.labels,
        num_classes=num_classes,
        batch_size=cfg.train.eval_batch_size,
    )
    history = pd.DataFrame(state["history"])
    history.to_csv(out_dir / "history.csv", index=False)
    if len(history):
        plot_learning_curve(history, out_dir / "learning_curve.png")
    write_confusion(result.confusion, splits.classes, out_dir / "confusion_test")
    metrics = {
        "test_accuracy": result.accuracy,
        "test_loss": result.loss,
        "best_valid_accuracy": state["best_acc"],
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "train_seconds": round(state["train_seconds"], 1),
        "n_train": len(splits.train),
        "n_valid": len(splits.valid),
        "n_test": len(splits.test),
        "split_warnings": list(splits.warnings),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "machine": machine_description(),
        "data_root": str(cfg.data.root),
    }
    ckpt = save_classifier(
        out_dir / "model.pt",
        model,
        model_config=cfg.model,
        frontend_config=cfg.frontend,
        classes=splits.classes,
        meta={**metrics, "train_config": to_dict(cfg)},
    )
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return TrainResult(out_dir, ckpt, history, metrics)
