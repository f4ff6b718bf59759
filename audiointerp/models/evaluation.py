"""Batched prediction, accuracy and confusion matrices, and the training figures."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix
from torch import nn

from audiointerp.data import open_dataset
from audiointerp.data.mixing import load_noise, mix_at_snr, paper_mix
from audiointerp.errors import ParameterError
from audiointerp.files import atomic_write_bytes, atomic_write_text
from audiointerp.models.checkpoints import load_classifier
from audiointerp.processing import Frontend
from audiointerp.validation import check_positive, check_tensor


@dataclass
class EvalResult:
    """Predictions on a set of clips.

    Attributes
    ----------
    accuracy : float
        Fraction of correct predictions in [0, 1].
    loss : float
        Mean cross-entropy.
    confusion : np.ndarray (C, C) int
        Rows: true class, columns: predicted class.
    predictions : np.ndarray (N,) int
    probs : np.ndarray (N, C) float32
    """

    accuracy: float
    loss: float
    confusion: np.ndarray
    predictions: np.ndarray
    probs: np.ndarray


@torch.no_grad()
def predict_logits(
    model: nn.Module, frontend: Frontend, waves: torch.Tensor, *, batch_size: int = 64
) -> torch.Tensor:
    """Logits of a model on waveforms, features computed batch by batch on the model's device.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier on ``(B, 1, F, T)`` features; put in eval mode by the caller.
    frontend : Frontend
        Feature extractor on the same device as the model.
    waves : torch.Tensor (N, L)
        Waveforms (any device).
    batch_size : int
        Clips per forward pass.

    Returns
    -------
    torch.Tensor (N, C) float32, on CPU
    """
    check_tensor("waves", waves, ndim=2, finite=False)
    check_positive("batch_size", batch_size)
    device = next(model.parameters()).device
    out = []
    for start in range(0, waves.shape[0], batch_size):
        batch = waves[start : start + batch_size].to(device, non_blocking=True)
        out.append(model(frontend.features(batch)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


def evaluate_waves(
    model: nn.Module,
    frontend: Frontend,
    waves: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    batch_size: int = 64,
) -> EvalResult:
    """Accuracy, loss and confusion matrix of ``model`` on labelled waveforms (eval mode).

    Parameters
    ----------
    model : torch.nn.Module
    frontend : Frontend
    waves : torch.Tensor (N, L)
    labels : torch.Tensor (N,) int
    num_classes : int
        Size of the confusion matrix.
    batch_size : int

    Returns
    -------
    EvalResult
    """
    was_training = model.training
    model.eval()
    try:
        logits = predict_logits(model, frontend, waves, batch_size=batch_size)
    finally:
        model.train(was_training)
    labels = labels.cpu().long()
    _check_outputs(logits, labels, num_classes)
    loss = float(nn.functional.cross_entropy(logits, labels)) if len(labels) else float("nan")
    pred = logits.argmax(dim=1).numpy()
    y = labels.numpy()
    cm = confusion_matrix(y, pred, labels=np.arange(num_classes))
    acc = float((pred == y).mean()) if len(y) else float("nan")
    probs = torch.softmax(logits, dim=1).numpy().astype(np.float32)
    return EvalResult(acc, loss, cm, pred, probs)


def _check_outputs(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
    """Refuse outputs that would make the numbers silently wrong."""
    if logits.numel() and logits.shape[1] != num_classes:
        raise ParameterError(
            f"the model has {logits.shape[1]} outputs but {num_classes} classes were given; "
            "predictions outside the class list would be dropped: use the checkpoint's classes"
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ParameterError(
            f"labels must lie in [0, {num_classes}), got {int(labels.min())}..{int(labels.max())}"
        )
    bad = int((~torch.isfinite(logits)).any(dim=1).sum()) if logits.numel() else 0
    if bad:
        raise ParameterError(
            f"the model gave NaN or Inf outputs for {bad} of {len(logits)} clips (diverged "
            "training, broken weights or non-finite audio), so accuracy would be meaningless; "
            "retrain with a lower learning rate, or check the checkpoint and the audio"
        )


def write_confusion(
    cm: np.ndarray, classes: Sequence[str], path_stem: str | Path
) -> tuple[Path, Path]:
    """Write a confusion matrix as ``<stem>.csv`` (counts) and ``<stem>.png``.

    Parameters
    ----------
    cm : np.ndarray (C, C)
        Counts, rows true, columns predicted.
    classes : sequence of str
        Class names.
    path_stem : str or Path
        Output path without suffix.

    Returns
    -------
    (Path, Path)
        The CSV and PNG paths.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv = stem.with_suffix(".csv")
    frame = pd.DataFrame(cm, index=pd.Index(classes, name="true"), columns=list(classes))
    atomic_write_text(csv, frame.to_csv())
    n = len(classes)
    fig = Figure(figsize=(2.0 + 0.45 * n, 1.5 + 0.45 * n))
    ax = fig.add_subplot()
    rows = cm.sum(axis=1, keepdims=True)
    ax.imshow(cm / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"accuracy {100 * acc:.1f}% (n = {int(cm.sum())})", fontsize=9)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    _save_png(fig, png)
    return csv, png


def _save_png(fig: Figure, path: Path) -> None:
    """Render to memory, then write atomically (a full disk leaves no half-written PNG)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def plot_learning_curve(history: pd.DataFrame, path: str | Path) -> Path:
    """Plot loss and accuracy per epoch (train and validation) to a PNG.

    Parameters
    ----------
    history : pandas.DataFrame
        Columns ``epoch``, ``train_loss``, ``valid_loss``, ``train_acc``, ``valid_acc``.
    path : str or Path
        Output PNG.

    Returns
    -------
    Path
    """
    fig = Figure(figsize=(8, 3))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split in ("train", "valid"):
        ax_loss.plot(history["epoch"], history[f"{split}_loss"], marker=".", label=split)
        ax_acc.plot(history["epoch"], 100 * history[f"{split}_acc"], marker=".", label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(0, 100))
    ax_acc.legend()
    fig.tight_layout()
    path = Path(path)
    _save_png(fig, path)
    return path


@dataclass
class CheckpointEvaluation:
    """Result of :func:`evaluate_checkpoint`.

    Attributes
    ----------
    result : EvalResult
        On the clips of classes the model knows.
    classes : list of str
    ids : list of str
        Clip ids in prediction order.
    condition : str
        ``"clean"`` or the noise mixed in (``<noise>_snr<dB>`` for SNR mixing).
    excluded : dict of str to int
        Clips left out because the model does not know their class: class name -> count.
    """

    result: EvalResult
    classes: list[str]
    ids: list[str]
    condition: str
    excluded: dict[str, int] = field(default_factory=dict)


def known_class_subset(ds: Any, model_classes: Sequence[str]) -> tuple[Any, np.ndarray, dict]:
    """The clips of ``ds`` whose class the model knows, their labels in the model's numbering,
    and the others counted by class (the one rule for classes a model was not trained on:
    reported and excluded from accuracy).

    Raises
    ------
    DatasetError
        No clip of ``ds`` is of a class the model knows.
    """
    from collections import Counter

    from audiointerp.errors import DatasetError

    index = {name: i for i, name in enumerate(model_classes)}
    known = [c for c in ds.clips if c.category in index]
    excluded = dict(
        sorted(Counter(c.category for c in ds.clips if c.category not in index).items())
    )
    if not known:
        raise DatasetError(
            f"{ds.root}: none of its {len(ds)} clips is of a class the model knows "
            f"(model: {list(model_classes)[:10]}{' ...' if len(model_classes) > 10 else ''}; "
            f"data: {list(excluded)[:10]}); evaluate on data of the model's classes, or pick "
            "them with --classes (or --esc10 for an ESC-10 model on ESC-50)"
        )
    subset = ds.subset(ids=[c.id for c in known]) if excluded else ds
    labels = np.array([index[c.category] for c in subset.clips], dtype=np.int64)
    return subset, labels, excluded


def evaluate_checkpoint(
    weights: str | Path,
    data_root: str | Path,
    *,
    folds: Sequence[int] | None = None,
    noise: str | None = None,
    alpha: float = 0.6,
    snr_db: float | None = None,
    esc10: bool = False,
    classes: Sequence[str] | None = None,
    layout: str = "auto",
    batch_size: int = 64,
    device: str | None = None,
) -> CheckpointEvaluation:
    """Accuracy and confusion matrix of a saved classifier on a data set, optionally in noise.

    Clips of classes the model does not know are left out of the accuracy and counted in
    ``excluded`` (with a warning naming them).

    Parameters
    ----------
    weights : str or Path
        Checkpoint written by ``audiointerp train``.
    data_root : str or Path
        Data set folder.
    folds : sequence of int, optional
        Folds to evaluate (default: all).
    noise : str, optional
        ``"white"``, ``"room"``, ``"event"`` or a noise file.
    alpha : float
        Weight of the clip in the paper's mixing ``alpha * clip + (1 - alpha) * noise``.
    snr_db : float, optional
        Mix ``noise`` at this SNR instead of the paper's mixing.
    esc10 : bool
        ESC-50 only: keep the ESC-10 subset.
    classes : sequence of str, optional
        Keep only these classes of the data set.
    layout : str
        Data set layout (``"auto"`` detects it).
    batch_size : int
        Clips per forward pass.
    device : str, optional
        Defaults to CUDA when available.

    Returns
    -------
    CheckpointEvaluation
    """
    import logging

    from audiointerp.data.selection import select_classes

    loaded = load_classifier(weights, device=device)
    sr = loaded.frontend.sr
    duration_s = loaded.meta.get("train_config", {}).get("data", {}).get("duration_s", 5.0)
    ds = open_dataset(
        data_root, sr=sr, duration_s=duration_s, folds=folds, layout=layout, esc10=esc10
    )
    if classes:
        ds = select_classes(ds, list(classes))
    ds, labels, excluded = known_class_subset(ds, loaded.classes)
    if excluded:
        logging.getLogger(__name__).warning(
            "%s: %d clip(s) of %d class(es) the model does not know are left out of the "
            "accuracy: %s",
            data_root,
            sum(excluded.values()),
            len(excluded),
            ", ".join(f"{k} ({v})" for k, v in excluded.items()),
        )
    waves, _, ids = ds.load_batch(range(len(ds)))
    condition = "clean"
    if noise is not None:
        added = load_noise(noise, sr=sr, duration_s=duration_s)
        stem = Path(noise).stem if Path(noise).suffix else str(noise)
        if snr_db is None:
            waves, condition = paper_mix(waves, added, alpha=alpha), stem
        else:
            waves = mix_at_snr(waves, added, snr_db, normalize=True)[0]
            condition = f"{stem}_snr{snr_db:g}"
    elif snr_db is not None:
        raise ParameterError("--snr-db needs --noise (a noise name or file to mix in)")
    result = evaluate_waves(
        loaded.model,
        loaded.frontend,
        torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32)),
        torch.from_numpy(labels),
        num_classes=len(loaded.classes),
        batch_size=batch_size,
    )
    return CheckpointEvaluation(result, loaded.classes, ids, condition, excluded)
