"""Train/validation/test waveforms held in memory as tensors.

Loading every clip once (the synthetic benchmark is 400 x 80000 float32 = 128 MB) and computing
features batch by batch on the device keeps the per-epoch cost at the model's own cost; no
per-item Python work happens inside an epoch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audiointerp.data import AudioDataset, open_dataset
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
    """The three splits of a run and the class names."""

    train: Split
    valid: Split
    test: Split
    classes: list[str]


def _even_subset(n: int, k: int | None) -> np.ndarray:
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def load_split(ds: AudioDataset, folds: tuple[int, ...], max_clips: int | None = None) -> Split:
    """Load the clips of ``folds`` into memory.

    Parameters
    ----------
    ds : AudioDataset
        The opened data set.
    folds : tuple of int
        Folds to take.
    max_clips : int, optional
        Evenly spaced subset of at most this many clips (smoke runs).

    Returns
    -------
    Split
    """
    sub = ds.subset(folds=list(folds))
    idx = _even_subset(len(sub), max_clips)
    waves, labels, ids = sub.load_batch(idx)
    return Split(torch.from_numpy(waves), torch.from_numpy(labels), ids)


def load_splits(cfg: DataConfig, *, sr: int) -> Splits:
    """Open ``cfg.root`` and load its train, validation and test folds.

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
    root = Path(cfg.root)
    if not root.exists():
        raise DatasetError(
            f"data folder {root} does not exist; generate the synthetic benchmark with "
            f"`audiointerp synth --out {root}` or pass the folder of your data (--data)"
        )
    folds = (*cfg.train_folds, *cfg.valid_folds, *cfg.test_folds)
    ds = open_dataset(
        root, sr=sr, duration_s=cfg.duration_s, folds=folds, esc10=cfg.esc10, layout=cfg.layout
    )
    splits = {}
    for name in ("train", "valid", "test"):
        split = load_split(ds, getattr(cfg, f"{name}_folds"), cfg.max_clips)
        if not len(split):
            raise DatasetError(f"{root}: no clips in {name} folds {getattr(cfg, f'{name}_folds')}")
        splits[name] = split
    log.info("loaded %s: %s clips", root, {k: len(v) for k, v in splits.items()})
    return Splits(classes=list(ds.classes), **splits)
