"""Shared, generic fixtures: tiny audio files and an ESC-50-layout folder factory.

Fixtures are generated in the official formats; they deliberately differ from one another
(rates, take letters, unsorted rows, non-contiguous class ids) so that loaders cannot rely on
anything a particular copy of a data set happens to share.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

# (target, category) pairs: unsorted, non-contiguous ids, as a real subset of ESC-50 would be.
ESC50_CLASSES: tuple[tuple[int, str], ...] = ((41, "chainsaw"), (0, "dog"), (14, "chirping_birds"))


def write_tone(
    path: Path,
    *,
    sr: int = 16000,
    seconds: float = 1.0,
    channels: int = 1,
    subtype: str = "PCM_16",
    freq: float = 440.0,
    amp: float = 0.5,
) -> Path:
    """Write a sine (channel k at ``freq * (k + 1)``) and return its path."""
    t = np.arange(int(round(sr * seconds))) / sr
    y = np.stack([amp * np.sin(2 * np.pi * freq * (k + 1) * t) for k in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype)
    return path


@pytest.fixture
def tone() -> Callable[..., Path]:
    """``tone(path, sr=..., seconds=..., channels=..., subtype=...)`` writes a test sine."""
    return write_tone


def make_esc50(
    root: Path,
    *,
    classes: Sequence[tuple[int, str]] = ESC50_CLASSES,
    folds: Sequence[int] = (1, 2, 3, 4, 5),
    per_fold: int = 1,
    sr: int = 44100,
    seconds: float = 5.0,
    esc10: Sequence[str] = ("dog",),
) -> Path:
    """Write an ESC-50-layout folder (``meta/esc50.csv``, ``audio/*.wav``) and return ``root``.

    File names follow ESC-50's ``{fold}-{src}-{take}-{target}.wav`` with arbitrary takes;
    rows are written in an order that is neither sorted by name nor by class.
    """
    rows = []
    rng = np.random.default_rng(0)
    for fold in folds:
        for k, (target, category) in enumerate(classes):
            for j in range(per_fold):
                src = 100000 + 7919 * (fold * 31 + k * 7 + j) % 90000
                take = "ABDF"[(fold + j + k) % 4]
                name = f"{fold}-{src}-{take}-{target}.wav"
                write_tone(root / "audio" / name, sr=sr, seconds=seconds, freq=200.0 + 50 * k)
                rows.append([name, fold, target, category, category in esc10, f"{src}.ogg", take])
    rows = [rows[i] for i in rng.permutation(len(rows))]
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root


@pytest.fixture
def esc50_factory(tmp_path: Path) -> Callable[..., Path]:
    """``esc50_factory(name="esc50", **make_esc50 options)`` -> root of a fresh ESC-50 folder."""

    def make(name: str = "esc50", **kwargs) -> Path:
        return make_esc50(tmp_path / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic benchmark (2 clips per class, seed 0), generated once per session.

    Tests use this rather than a local ``data/synth`` so that they run, identically, on a
    fresh clone.
    """
    from audiointerp.data.synth import generate_benchmark

    root = tmp_path_factory.mktemp("synth")
    return generate_benchmark(root / "bench", seed=0, clips_per_class=2, progress=False)
