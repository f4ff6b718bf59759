"""Train/validation/test waveforms held in memory as tensors.

Loading every clip once (the synthetic benchmark is 400 x 80000 float32 = 128 MB) and computing
features batch by batch on the device keeps the per-epoch cost at the model's own cost; no
per-item Python work happens inside an epoch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from audiointerp.data import AudioDataset
from audiointerp.data.config import DataConfig
from audiointerp.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass
class Split:
    """One split in memory.

    Attributes
    ----------
    waves : torch.Tensor (N, L) float32
    labels : torch.Tensor (N,) int64
    ids : list of str
    """

    waves: torch.Tensor
    labels: torch.Tensor
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device) -> Split:
        """Return the split with waves and labels on ``device``."""
        return Split(self.waves.to(device), self.labels.to(device), self.ids)


@dataclass
class Splits:
    """The three splits of a run, the class names and what is wrong with the splits.

    ``warnings`` lists splits with too few clips of some class (:func:`load_splits`).
    """

    train: Split
    valid: Split
    test: Split
    classes: list[str]
    warnings: list[str] = field(default_factory=list)


def _even_subset(n: int, k: int | None) -> np.ndarray:
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def load_split(ds: AudioDataset, folds: tuple[int, ...], max_clips: int | None = None) -> Split:
    """Load the clips of ``folds`` (all of ``ds`` when empty) into memory.

    Parameters
    ----------
    ds : AudioDataset
        The opened data set (or one split of it).
    folds : tuple of int
        Folds to take; ``()`` takes every clip of ``ds``.
    max_clips : int, optional
        Evenly spaced subset of at most this many clips (smoke runs).

    Returns
    -------
    Split
    """
    sub = ds.subset(folds=list(folds)) if folds else ds
    idx = _even_subset(len(sub), max_clips)
    waves, labels, ids = sub.load_batch(idx)
    return Split(torch.from_numpy(waves), torch.from_numpy(labels), ids)


def load_splits(cfg: DataConfig, *, sr: int) -> Splits:
    """Open ``cfg.root`` and load its train, validation and test splits.

    The splits are the configured folds, or the seeded class-stratified split of
    ``cfg.split`` (:func:`audiointerp.data.selection.open_splits`). A split with fewer than
    ``cfg.min_per_class`` clips of some class is reported with a warning naming the classes.

    Parameters
    ----------
    cfg : DataConfig
        Data section of a training config.
    sr : int
        Sample rate of the frontend.

    Returns
    -------
    Splits
    """
    from audiointerp.data.selection import open_splits, split_warnings

    root = Path(cfg.root)
    if not root.exists():
        raise DatasetError(
            f"data folder {root} does not exist; generate the synthetic benchmark with "
            f"`audiointerp synth --out {root}` or pass the folder of your data (--data)"
        )
    opened = open_splits(cfg, sr=sr)
    for name, ds in opened.items():
        if not len(ds):
            raise DatasetError(
                f"{root}: no clips in the {name} split ({cfg.describe_split(name)}); "
                "set data.split: {valid: 0.15, test: 0.15} for a class-stratified split"
            )
    warnings = split_warnings(opened, cfg)
    for message in warnings:
        log.warning("%s", message)
    splits = {name: load_split(ds, (), cfg.max_clips) for name, ds in opened.items()}
    log.info("loaded %s: %s clips", root, {k: len(v) for k, v in splits.items()})
    return Splits(classes=list(opened["train"].classes), warnings=warnings, **splits)
