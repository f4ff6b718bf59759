"""What a fit reads: training and validation clips (with stems where the data has them), the
noise conditions used as augmentation, and the batches an interpreter's loss takes.

The paper trains L-MAC on ESC-50 clips mixed on the fly with WHAM! noise; here the noises of
the listening conditions (``noises/white.wav``, ``room.wav``, ``event.wav``) are mixed into the
training clips with the paper's rule (:func:`audiointerp.data.mixing.paper_mix`), each at a
random offset, so the interpreter sees the conditions it is evaluated under without seeing the
same noise segment each time. Validation uses fixed conditions (clean and each noise in turn, at
offset 0, as the grid does), so its numbers are comparable from epoch to epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiointerp.data.config import DataConfig
from audiointerp.data.mixing import load_noise, paper_mix
from audiointerp.errors import DatasetError
from audiointerp.interpretation.learned.base import FitBatch

CLEAN = "clean"


@dataclass
class FitSplit:
    """Clips of one split in memory.

    Attributes
    ----------
    waves : np.ndarray (N, L) float32
    labels : np.ndarray (N,) int64
    ids : list of str
    target, background : np.ndarray (N, L) float32 or None
        Stems (``waves == target + background``), where the data set has them.
    """

    waves: np.ndarray
    labels: np.ndarray
    ids: list[str]
    target: np.ndarray | None = None
    background: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_stems(self) -> bool:
        return self.target is not None


def _even_subset(n: int, k: int | None) -> np.ndarray:
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def load_fit_splits(cfg: DataConfig, *, sr: int, classes: list[str]) -> tuple[FitSplit, FitSplit]:
    """Training and validation splits of ``cfg`` (its folds, or its seeded ``split``, exactly as
    classifier training chooses them) with stems when present.

    Labels are mapped to the classifier's class order (``classes``); a data set class the
    classifier does not know is an error.
    """
    from audiointerp.data.selection import open_splits

    root = Path(cfg.root)
    if not root.exists():
        raise DatasetError(
            f"data folder {root} does not exist; generate the synthetic benchmark with "
            f"`audiointerp synth --out {root}` or pass the folder the classifier was trained on"
        )
    opened = open_splits(cfg, ("train", "valid"), sr=sr)
    found = opened["train"].classes
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DatasetError(
            f"{root}: classes {unknown[:5]} are unknown to the classifier (its classes: "
            f"{classes[:10]}); fit on the data the classifier was trained on (data.classes "
            "selects a subset)"
        )
    to_model = np.array([classes.index(c) for c in found])
    out = []
    for name in ("train", "valid"):
        sub = opened[name]
        if not len(sub):
            raise DatasetError(f"{root}: no clips in the {name} split ({cfg.describe_split(name)})")
        idx = _even_subset(len(sub), cfg.max_clips)
        waves, labels, ids = sub.load_batch(idx)
        split = FitSplit(waves, to_model[labels], ids)
        if sub.has_stems:
            stems = [sub.load_stems(int(i)) for i in idx]
            split.target = np.stack([s["target"] for s in stems])
            split.background = np.stack([s["background"] for s in stems])
        out.append(split)
    return out[0], out[1]


def load_noise_bank(
    names: tuple[str, ...], *, sr: int, duration_s: float, noises_dir: str
) -> dict[str, np.ndarray]:
    """The augmentation noises by name, ``(N,)`` each (missing named noises are generated)."""
    return {n: load_noise(n, sr=sr, duration_s=duration_s, noises_dir=noises_dir) for n in names}


def _target_gain(mix: np.ndarray, clip: np.ndarray, noise: np.ndarray) -> float:
    """``a`` with ``mix = a * clip + b * noise``: mixing is linear, so least squares is exact."""
    basis = np.stack([clip, noise], axis=1).astype(np.float64)
    return float(np.linalg.lstsq(basis, mix.astype(np.float64), rcond=None)[0][0])


def condition_waves(
    split: FitSplit,
    idx: np.ndarray,
    conditions: list[str],
    offsets: np.ndarray,
    noises: dict[str, np.ndarray],
    *,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Clips ``idx`` under their ``conditions`` (``"clean"`` or a noise name) and, with stems,
    the clean target stem scaled as in each mixture."""
    waves = split.waves[idx].copy()
    target = None if split.target is None else split.target[idx].copy()
    for row, (cond, offset) in enumerate(zip(conditions, offsets, strict=True)):
        if cond == CLEAN:
            continue
        noise = np.roll(noises[cond], -int(offset))
        clip = waves[row]
        mix = paper_mix(clip, noise, alpha=alpha)
        if target is not None:
            target[row] = _target_gain(mix, clip, noise[: clip.shape[-1]]) * target[row]
        waves[row] = mix
    return waves, target


@torch.no_grad()
def make_batch(
    model: nn.Module,
    frontend,
    waves: np.ndarray,
    labels: np.ndarray,
    *,
    target: np.ndarray | None = None,
    device: torch.device,
) -> FitBatch:
    """Analyse a batch of (conditioned) clips and predict it: what an interpreter's loss reads."""
    from audiointerp.processing.ground_truth import ideal_mask

    w = torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32)).to(device)
    spec = frontend.analyze(w)
    feats = spec.features
    logits = model(feats)
    batch = FitBatch(
        features=feats,
        power=spec.mag.square(),
        target=logits.argmax(dim=-1),
        logits=logits,
        labels=torch.as_tensor(labels, device=device),
    )
    if target is not None:
        t = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)).to(device)
        batch.ideal = ideal_mask(frontend, t, w - t)
        batch.clean = frontend.features(t)
    return batch


def validation_plan(n: int, noise_names: tuple[str, ...]) -> list[str]:
    """One fixed condition per validation clip: clean and each noise in turn."""
    cycle = [CLEAN, *noise_names]
    return [cycle[i % len(cycle)] for i in range(n)]
