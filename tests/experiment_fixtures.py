"""A tiny experiment setup shared by the runner and notebook tests (built once per session).

Synthetic benchmark with stems (2 clips per class, 1 s, folds 1-2), three short noise files and
two tiny randomly initialised classifiers (mel and STFT frontends) saved as real checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

SR = 16000
DURATION_S = 1.0


@dataclass(frozen=True)
class TinySetup:
    root: Path
    data: Path
    noises: Path
    models: dict[str, str]

    def overrides(self, out: Path, **extra) -> dict:
        """Config overrides for a small grid on this setup, writing under ``out``."""
        base = {
            "name": "tiny",
            "models": dict(self.models),
            "data.root": str(self.data),
            "data.test_folds": [1],
            "data.train_folds": [2],
            "data.n_clips": 4,
            "data.duration_s": DURATION_S,
            "noises_dir": str(self.noises),
            "conditions": ["clean", "white"],
            "methods": {
                "saliency": {},
                "gradcam": {},
                "lime": {"n_samples": 8, "batch_size": 8, "segmentation": "grid"},
            },
            "masks": ["minmax", "bin", "topK_5", "topK_50", "pos_thresh_75"],
            "clips_per_unit": 3,
            "batch_size": 16,
            "curve_fills": [],  # 77 more forwards per clip; tests that need them ask
            "output": str(out),
        }
        base.update(extra)
        return base


def _write_noises(folder: Path) -> None:
    rng = np.random.default_rng(0)
    n = int(SR * DURATION_S)
    t = np.arange(n) / SR
    sounds = {
        "white": rng.standard_normal(n),
        "room": np.convolve(rng.standard_normal(n), np.ones(64) / 64, mode="same"),
        "event": np.sin(2 * np.pi * 700 * t) * (t > 0.3) * (t < 0.6),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, y in sounds.items():
        sf.write(folder / f"{name}.wav", (0.5 * y / np.abs(y).max()).astype(np.float32), SR)


def _write_models(folder: Path, classes: list[str]) -> dict[str, str]:
    from audiointerp.models import build_model, save_classifier
    from audiointerp.processing import FrontendConfig

    out = {}
    for kind in ("mel", "stft"):
        fc = FrontendConfig(
            kind=kind,
            sr=SR,
            n_fft=256,
            win_length=256,
            hop_length=128,
            n_mels=32,
            fmin=50.0,
            fmax=8000.0,
        )
        torch.manual_seed(1)
        model = build_model("cnn6", num_classes=len(classes), num_bins=fc.n_bins, width=0.125)
        path = folder / f"tiny_{kind}.pt"
        save_classifier(
            path,
            model,
            model_config={"arch": "cnn6", "width": 0.125},
            frontend_config=fc,
            classes=classes,
            meta={"note": "random init, tests"},
        )
        out[kind] = str(path)
    return out


def build_tiny_setup(root: Path) -> TinySetup:
    """Create (or reuse) the setup under ``root``."""
    from audiointerp.data import open_dataset
    from audiointerp.data.synth import generate_benchmark

    data = root / "data"
    if not (data / "meta" / "esc50.csv").is_file():
        generate_benchmark(data, clips_per_class=2, duration_s=DURATION_S, sr=SR, seed=0)
    noises = root / "noises"
    if not (noises / "event.wav").is_file():
        _write_noises(noises)
    classes = open_dataset(data, sr=SR, duration_s=DURATION_S).classes
    models = {k: str(root / f"tiny_{k}.pt") for k in ("mel", "stft")}
    if not all(Path(p).is_file() for p in models.values()):
        models = _write_models(root, list(classes))
    return TinySetup(root, data, noises, models)


def session_setup(tmp_path_factory: pytest.TempPathFactory) -> TinySetup:
    """The shared tiny setup (built on first use in a test session, then reused)."""
    return build_tiny_setup(tmp_path_factory.getbasetemp() / "experiment_tiny")
