"""``FitConfig``: everything an interpreter fit depends on (``configs/interpreters/*.yaml``).

Three sections: ``data`` (training and validation folds), ``fit`` (optimisation, noise
augmentation, seed) and ``interpreter`` (the method's own options, validated by its
interpreter's ``Config``), plus ``init`` (a fitted checkpoint to start from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audiointerp.config import load_config
from audiointerp.data.config import DataConfig
from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice, check_positive


@dataclass
class FitOptions:
    """The ``fit`` section: optimisation, augmentation, seed.

    Attributes
    ----------
    seed : int
        Seeds initialisation, clip order, augmentation and dropout.
    epochs : int
        Passes over the training clips (ignored by interpreters without weights).
    batch_size : int
        Clips per step.
    lr, weight_decay : float
        Adam (the recipe: 2e-4, 2e-6; a larger rate suits the short CPU schedule).
    schedule : {"cosine", "none"}
        Learning-rate schedule over ``epochs`` (cosine to ``lr * min_lr_ratio``).
    min_lr_ratio : float
    noises : tuple of str
        Noise conditions mixed into training clips (the paper's alpha mixing), as the L-MAC
        paper mixes WHAM! noise in.
    clean_share : float
        Share of training clips left clean in each epoch.
    alpha : float
        The paper's clip weight in ``alpha * clip + (1 - alpha) * noise``.
    noises_dir : str
        Folder of the named noises.
    eval_batch_size : int
        Clips per validation batch.
    device : str or None
        ``None`` picks CUDA when available.
    """

    seed: int = 0
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 2e-6
    schedule: Literal["cosine", "none"] = "cosine"
    min_lr_ratio: float = 0.05
    noises: tuple[str, ...] = ("white", "room", "event")
    clean_share: float = 0.25
    alpha: float = 0.6
    noises_dir: str = "noises"
    eval_batch_size: int = 32
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "lr", "eval_batch_size"):
            check_positive(f"fit.{name}", getattr(self, name))
        check_positive("fit.epochs", self.epochs, allow_zero=True)
        check_positive("fit.weight_decay", self.weight_decay, allow_zero=True)
        check_choice("fit.schedule", self.schedule, ("cosine", "none"))
        self.noises = tuple(self.noises)
        if not 0.0 <= self.clean_share <= 1.0:
            raise ParameterError(f"fit.clean_share must lie in [0, 1], got {self.clean_share}")
        if not self.noises and self.clean_share < 1.0:
            raise ParameterError("fit.noises is empty: set fit.clean_share: 1.0 to train clean")


@dataclass
class FitConfig:
    """An interpreter fit (``configs/interpreters/<method>.yaml``).

    Attributes
    ----------
    data : DataConfig
        Training folds (fitting) and validation folds (best epoch, model-card numbers).
    fit : FitOptions
    interpreter : dict
        The method's own options (its interpreter's ``Config``, e.g.
        :class:`~audiointerp.interpretation.learned.lmac.LmacConfig`).
    init : str or None
        A fitted checkpoint of the same classifier to start from (L-MAC FT starts from L-MAC).
    """

    data: DataConfig = field(default_factory=DataConfig)
    fit: FitOptions = field(default_factory=FitOptions)
    interpreter: dict[str, Any] = field(default_factory=dict)
    init: str | None = None


def load_fit_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> FitConfig:
    """A :class:`FitConfig` from YAML (or defaults) with dotted-key ``overrides``."""
    if path is not None:
        return load_config(FitConfig, path, overrides)
    from audiointerp.config import from_dict

    data: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return from_dict(FitConfig, data, where="overrides")
