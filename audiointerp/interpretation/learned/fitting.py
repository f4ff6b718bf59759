"""Fitting an interpreter for one frozen classifier: seeded, resumable, validated.

:func:`fit_interpreter` is what ``audiointerp fit`` runs. The classifier stays in eval mode with
its gradients off; only the interpreter learns. A run keeps its state in a work folder::

    fit_config.yaml   method, classifier SHA-256 and the full FitConfig (a restart must match)
    last.pt           resume state after the last finished epoch
    history.csv       training and validation loss per epoch

and writes the interpreter checkpoint (:mod:`.checkpoint`) last. As in classifier training,
every epoch draws its clip order, augmentation and dropout from generators seeded by
``(seed, epoch)``, so a rerun after an interruption continues bit-exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiointerp.config import load_yaml, save_yaml, to_dict
from audiointerp.errors import CheckpointError, DatasetError, ParameterError
from audiointerp.interpretation.learned import data as fitdata
from audiointerp.interpretation.learned.base import FitBatch, Interpreter, LearnedMethod
from audiointerp.interpretation.learned.checkpoint import (
    describe_classifier,
    read_interpreter,
    save_interpreter,
)
from audiointerp.interpretation.learned.decoder import probe_hidden
from audiointerp.interpretation.learned.fitconfig import FitConfig, FitOptions
from audiointerp.interpretation.learned.validation import validation_metrics
from audiointerp.models.checkpoints import atomic_torch_save, read_checkpoint
from audiointerp.models.training import epoch_seed, machine_description
from audiointerp.progress import progress_bar
from audiointerp.runtime import default_device, seed_everything, tune_allocator

log = logging.getLogger(__name__)

RESUME_FORMAT = "audiointerp-fit-state/1"


@dataclass
class FitResult:
    """Outcome of :func:`fit_interpreter`: the checkpoint, history and validation numbers."""

    checkpoint: Path
    history: pd.DataFrame
    validation: dict[str, dict[str, float]]
    fit_seconds: float


def interpreter_class(method: str) -> tuple[type[LearnedMethod], type[Interpreter]]:
    """The registered learned method ``method`` and its interpreter class."""
    from audiointerp.interpretation.registry import method_class, method_names

    cls = method_class(method)
    if not (isinstance(cls, type) and issubclass(cls, LearnedMethod)):
        fittable = [n for n in method_names() if method_class(n).needs_fitting]
        raise ParameterError(f"method {method!r} needs no fitting; fit one of {fittable}")
    return cls, cls.interpreter_cls


def _run_state_key(method: str, classifier: Any, cfg: FitConfig) -> dict[str, Any]:
    return {"method": method, "classifier_sha256": classifier.sha256, "config": to_dict(cfg)}


def _check_work_dir(work: Path, key: dict[str, Any]) -> None:
    saved = work / "fit_config.yaml"
    if (work / "last.pt").exists() and saved.exists() and load_yaml(saved) != key:
        raise CheckpointError(
            f"{work} holds a fit of another method, classifier or config ({saved}); rerun "
            "that command to resume it, or pass another --work folder"
        )
    work.mkdir(parents=True, exist_ok=True)
    save_yaml(key, saved)


def _batches(model, frontend, split, plan, offsets, noises, alpha, device, size):
    for start in range(0, len(split), size):
        idx = np.arange(start, min(start + size, len(split)))
        waves, target = fitdata.condition_waves(
            split, idx, [plan[i] for i in idx], offsets[idx], noises, alpha=alpha
        )
        yield make_fit_batch(model, frontend, split, idx, waves, target, device)


def make_fit_batch(model, frontend, split, idx, waves, target, device) -> FitBatch:
    return fitdata.make_batch(
        model, frontend, waves, split.labels[idx], target=target, device=device
    )


def _init_from(interp: Interpreter, path: str, sha: str) -> None:
    ckpt = read_interpreter(path)
    if ckpt.classifier_sha256 != sha:
        raise CheckpointError(
            f"init={path} is bound to another classifier ({ckpt.classifier.get('file')}); "
            "start from an interpreter fitted for this classifier"
        )
    try:
        interp.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        raise CheckpointError(
            f"init={path} ({ckpt.method}) does not fit this interpreter ({exc})"
        ) from exc


def fit_interpreter(
    method: str,
    classifier: Any,
    cfg: FitConfig,
    out: str | Path,
    *,
    work_dir: str | Path | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit (or resume fitting) interpreter ``method`` for ``classifier`` and save it to ``out``.

    Parameters
    ----------
    method : str
        A registered learned method (``"lmac"``, ``"lmac_ft"``, ``"l2i"``, ``"piq"``, ``"nmf"``).
    classifier : LoadedClassifier
        From :func:`audiointerp.models.load_classifier` (its SHA-256 binds the checkpoint).
    cfg : FitConfig
    out : str or Path
        The interpreter checkpoint to write.
    work_dir : str or Path, optional
        Resume state (default ``results/runs/fit/<out stem>``).
    progress : bool
        tqdm bars.
    on_epoch_end : callable, optional
        ``hook(epoch, record)`` called after each epoch's state is saved.

    Returns
    -------
    FitResult
    """
    tune_allocator()
    cpu0, load0 = time.process_time(), _load_average()
    _, icls = interpreter_class(method)
    out = Path(out)
    work = Path(work_dir) if work_dir is not None else Path("results/runs/fit") / out.stem
    _check_work_dir(work, _run_state_key(method, classifier, cfg))
    fo = cfg.fit
    device = default_device(fo.device)
    model, frontend = classifier.model.to(device).eval(), classifier.frontend.to(device)
    model.requires_grad_(False)  # frozen: only the interpreter learns
    icfg = icls.config_from(cfg.interpreter)
    train, valid = fitdata.load_fit_splits(cfg.data, sr=frontend.sr, classes=classifier.classes)
    if icls.needs_stems and not train.has_stems:
        raise DatasetError(
            f"method {method!r} needs stems (the clean target) and {cfg.data.root} has none; "
            "fit it on the synthetic benchmark or another data set with stems"
        )
    noises = fitdata.load_noise_bank(
        fo.noises, sr=frontend.sr, duration_s=cfg.data.duration_s, noises_dir=fo.noises_dir
    )
    seed_everything(fo.seed)
    with torch.no_grad():
        clean = torch.cat(
            [
                frontend.features(torch.from_numpy(train.waves[s : s + 64]).to(device))
                for s in range(0, len(train), 64)
            ]
        )
    spec = probe_hidden(model, clean[:1])
    interp = icls(
        icfg,
        spec,
        len(classifier.classes),
        n_bins=frontend.n_bins,
        floor_db=frontend.floor_db,
    ).to(device)
    t_prepare = time.perf_counter()
    interp.prepare(model, frontend, clean)
    prepare_s = time.perf_counter() - t_prepare
    del clean
    if cfg.init:
        _init_from(interp, cfg.init, classifier.sha256)
    epochs = fo.epochs if icls.trainable else 0
    params = [p for p in interp.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params or [torch.zeros(1)], lr=fo.lr, weight_decay=fo.weight_decay)
    scheduler = _scheduler(optimizer, fo, epochs)
    state: dict[str, Any] = {
        "epoch": 0,
        "history": [],
        "best_loss": float("inf"),
        "best_epoch": 0,
        "best_state": None,
        "fit_seconds": prepare_s,
    }
    resume = work / "last.pt"
    if resume.exists():
        saved = read_checkpoint(resume)
        if not isinstance(saved, dict) or saved.get("format") != RESUME_FORMAT:
            raise CheckpointError(f"{resume} is not a fit state; delete it to start afresh")
        interp.load_state_dict(saved["interpreter"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        log.info("resuming %s after epoch %d", work, state["epoch"])
    plan = fitdata.validation_plan(len(valid), fo.noises)
    zeros = np.zeros(len(valid), dtype=np.int64)
    bar = progress_bar(
        range(state["epoch"], epochs), desc=f"fit {method}", unit="epoch", disable=not progress
    )
    for epoch in bar:
        t0 = time.perf_counter()
        es = epoch_seed(fo.seed, epoch)
        seed_everything(es)  # dropout draws from the global generator
        gen = torch.Generator().manual_seed(es)
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        record |= _train_epoch(interp, model, frontend, train, noises, fo, gen, optimizer, device)
        scheduler.step()
        interp.eval()
        batches = _batches(
            model, frontend, valid, plan, zeros, noises, fo.alpha, device, fo.eval_batch_size
        )
        with torch.no_grad():
            losses = [(float(interp.loss(model, frontend, b)[0]), len(b.target)) for b in batches]
        record["valid_loss"] = sum(v * n for v, n in losses) / len(valid)
        record["seconds"] = time.perf_counter() - t0
        state["history"].append(record)
        state["fit_seconds"] += record["seconds"]
        if record["valid_loss"] < state["best_loss"]:
            best = {k: v.detach().cpu().clone() for k, v in interp.state_dict().items()}
            state.update(best_loss=record["valid_loss"], best_epoch=epoch + 1, best_state=best)
        state["epoch"] = epoch + 1
        atomic_torch_save(
            {
                "format": RESUME_FORMAT,
                "interpreter": interp.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": state,
            },
            resume,
        )
        pd.DataFrame(state["history"]).to_csv(work / "history.csv", index=False)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", valid=f"{record['valid_loss']:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
    if state["best_state"] is not None:
        interp.load_state_dict(state["best_state"])
    interp.eval()
    t_val = time.perf_counter()
    validation = validation_metrics(
        interp, model, frontend, valid, noises, alpha=fo.alpha, batch_size=fo.eval_batch_size
    )
    log.info("validation of %s: %s", method, validation)
    history = pd.DataFrame(state["history"])
    meta = {
        "fit_seconds": round(state["fit_seconds"], 1),
        "validation_seconds": round(time.perf_counter() - t_val, 1),
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "validation": validation,
        "history": state["history"],
        "n_train": len(train),
        "n_valid": len(valid),
        "n_parameters": sum(p.numel() for p in interp.parameters()),
        "machine": machine_description(),
        # CPU seconds of this process (this session): on a shared machine the wall time above
        # depends on the other jobs, this does not; with one thread it is the idle wall time.
        "cpu_seconds": round(time.process_time() - cpu0, 1),
        "load_average": [load0, _load_average()],
        "torch_threads": torch.get_num_threads(),
        "data_root": str(cfg.data.root),
        "init": cfg.init,
    }
    ckpt = save_interpreter(
        out,
        method=method,
        classifier=describe_classifier(classifier, spec),
        config=interp.config_dict(),
        state_dict=interp.state_dict(),
        fit=to_dict(cfg),
        meta=meta,
    )
    return FitResult(ckpt, history, validation, float(state["fit_seconds"]))


def _load_average() -> float | None:
    """The machine's 1-minute load average (``None`` where the OS has none)."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _scheduler(optimizer, fo: FitOptions, epochs: int):
    if fo.schedule == "cosine" and epochs > 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=epochs, eta_min=fo.lr * fo.min_lr_ratio
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _train_epoch(
    interp: Interpreter,
    model: nn.Module,
    frontend: Any,
    train: fitdata.FitSplit,
    noises: dict[str, np.ndarray],
    fo: FitOptions,
    gen: torch.Generator,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> dict[str, float]:
    interp.train()
    n = len(train)
    order = torch.randperm(n, generator=gen).numpy()
    names = [fitdata.CLEAN, *fo.noises]
    # One condition and one noise offset per clip, drawn from the epoch's generator.
    noisy = torch.rand(n, generator=gen).numpy() >= fo.clean_share
    which = torch.randint(0, max(len(fo.noises), 1), (n,), generator=gen).numpy()
    plan = [names[1 + w] if z else fitdata.CLEAN for z, w in zip(noisy, which, strict=True)]
    offsets = torch.randint(0, train.waves.shape[1], (n,), generator=gen).numpy()
    total, parts, seen = 0.0, {}, 0
    for start in range(0, n, fo.batch_size):
        idx = order[start : start + fo.batch_size]
        waves, target = fitdata.condition_waves(
            train, idx, [plan[i] for i in idx], offsets[idx], noises, alpha=fo.alpha
        )
        batch = make_fit_batch(model, frontend, train, idx, waves, target, device)
        loss, logs = interp.loss(model, frontend, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        k = len(idx)
        total += float(loss.detach()) * k
        for key, value in logs.items():
            parts[key] = parts.get(key, 0.0) + value * k
        seen += k
    return {"train_loss": total / seen, **{k: v / seen for k, v in parts.items()}}
