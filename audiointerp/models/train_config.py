"""``TrainConfig``: everything a training run depends on, in four YAML sections.

``data`` (which clips), ``frontend`` (:class:`~audiointerp.processing.FrontendConfig`),
``model`` (a :class:`~audiointerp.models.base.ModelConfig` of the chosen family) and ``train`` (optimisation,
augmentation, seed). The config is saved beside the run's outputs and inside nothing else:
the checkpoint carries the model and frontend sections it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from audiointerp.config import load_config
from audiointerp.data.config import DataConfig
from audiointerp.models.base import ModelConfig
from audiointerp.models.cnn import CnnConfig
from audiointerp.models.registry import model_config
from audiointerp.processing import FrontendConfig
from audiointerp.validation import check_choice, check_device, check_positive

Schedule = Literal["none", "cosine"]
MaskFill = Literal["mean", "floor", "zero"]


@dataclass
class OptimConfig:
    """The ``train`` section: optimisation, augmentation, stopping and seed.

    Attributes
    ----------
    seed : int
        Seeds initialisation, data order, augmentation and dropout.
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Clips per optimisation step.
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam (L2) weight decay.
    schedule : {"none", "cosine"}
        Learning-rate schedule over ``epochs`` (cosine annealing to ``lr * min_lr_ratio``).
    min_lr_ratio : float
        Final learning rate of the cosine schedule relative to ``lr``.
    warmup_epochs : int
        Epochs of linear warm-up to ``lr`` before the schedule (0: none); transformers
        trained from scratch need a few.
    freq_mask, time_mask : int
        SpecAugment: largest masked band in bins / frames (0 disables).
    n_freq_masks, n_time_masks : int
        SpecAugment: bands per clip and axis.
    mask_fill : {"mean", "floor", "zero"}
        What SpecAugment writes into its bands: the clip's mean, the frontend's silence
        floor, or 0 in feature units (0 dB, the reproduced study's torchaudio masking).
        "floor" shows the model, during training, the value that interpretation masks write
        into removed regions, so masked inputs at test time are not out of distribution.
    time_roll : bool
        Shift each clip circularly in time by a random number of frames
        (:func:`~audiointerp.models.augment.time_roll`).
    mixup_alpha : float
        Mixup Beta parameter; 0 disables mixup.
    patience : int or None
        Stop after this many epochs without a better validation accuracy; ``None`` never stops.
    eval_batch_size : int
        Clips per forward pass when evaluating.
    device : str or None
        ``"cpu"``, ``"cuda"``...; ``None`` picks CUDA when available.
    """

    seed: int = 0
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Schedule = "cosine"
    min_lr_ratio: float = 0.01
    warmup_epochs: int = 0
    freq_mask: int = 8
    time_mask: int = 20
    n_freq_masks: int = 2
    n_time_masks: int = 2
    mask_fill: MaskFill = "mean"
    time_roll: bool = False
    mixup_alpha: float = 0.0
    patience: int | None = 10
    eval_batch_size: int = 64
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "lr", "eval_batch_size"):
            check_positive(f"train.{name}", getattr(self, name))
        for name in (
            "weight_decay",
            "warmup_epochs",
            "freq_mask",
            "time_mask",
            "n_freq_masks",
            "n_time_masks",
            "mixup_alpha",
        ):
            check_positive(f"train.{name}", getattr(self, name), allow_zero=True)
        check_choice("train.schedule", self.schedule, ("none", "cosine"))
        check_choice("train.mask_fill", self.mask_fill, ("mean", "floor", "zero"))
        if self.patience is not None:
            check_positive("train.patience", self.patience)
        check_device("train.device", self.device)


@dataclass
class TrainConfig:
    """A complete training run (``configs/default_mel.yaml`` and friends)."""

    data: DataConfig = field(default_factory=DataConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    model: ModelConfig = field(default_factory=CnnConfig)
    train: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        self.model = model_config(self.model, where="model")  # the family's own fields

    def resolve_paths(self, resolve: Callable[[str], Any]) -> TrainConfig:
        """A copy with its file paths (data root, pretrained weights) passed through
        ``resolve`` (the notebooks: ``audiointerp.paths.repo_path``)."""
        model = self.model
        if getattr(model, "pretrained", None):
            model = replace(model, pretrained=str(resolve(model.pretrained)))
        data = replace(self.data, root=str(resolve(self.data.root)))
        return replace(self, data=data, model=model)


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a training config from YAML with dotted-key ``overrides`` (``{"train.epochs": 1}``)."""
    return load_config(TrainConfig, path, overrides)
