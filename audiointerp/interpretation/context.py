"""What a method may take from outside the clip it explains: the model, the frontend and
training data.

Methods read training data through a :class:`MethodContext` (SHAP's background, the slice
method's fill value), never through a data set path, so this layer stays below ``data``. The
experiment layer supplies the training data (:class:`TrainingData`) from a data set's training
folds; without it, methods fall back as their class documents and the fallback is recorded in
:attr:`MethodContext.notes` (printed by ``interpret`` and shown by the explorer).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from audiointerp.errors import ParameterError

#: Training clips per class in the draw the mean feature value is estimated from.
FEATURE_MEAN_PER_CLASS = 2


class TrainingData(Protocol):
    """A source of clean training features for one frontend."""

    description: str

    def features(self, per_class: int) -> torch.Tensor:
        """Features ``(K, 1, F, T)`` of a seeded class-balanced draw of ``per_class`` clips."""


class MethodContext:
    """The model a method explains, its frontend, and (optionally) training data.

    Parameters
    ----------
    model : nn.Module
        The classifier (for Grad-CAM's layer, the model kind and capabilities).
    frontend : Frontend, optional
        Its frontend (silence floor, bin frequencies).
    training : TrainingData, optional
        Clean training features; ``None`` when only the clip is at hand.
    model_sha256 : str, optional
        SHA-256 of the classifier's checkpoint file (what fitted interpreters are bound to).
    """

    def __init__(
        self,
        model: nn.Module,
        frontend: Any = None,
        training: TrainingData | None = None,
        *,
        model_sha256: str | None = None,
    ) -> None:
        self.model = model
        self.frontend = frontend
        self.training = training
        self.model_sha256 = model_sha256
        self.notes: list[str] = []
        self._mean: float | None = None

    @property
    def floor_db(self) -> float:
        """The frontend's silence floor in dB (-100 without a frontend)."""
        return float(getattr(self.frontend, "floor_db", -100.0))

    @property
    def has_training_data(self) -> bool:
        return self.training is not None

    def training_features(self, per_class: int) -> torch.Tensor:
        """Clean training features ``(K, 1, F, T)``, ``per_class`` clips of every class."""
        if self.training is None:
            raise ParameterError(
                "this method needs training clips but none were given; pass a data set "
                "(--data DIR or --config EXPERIMENT.yaml)"
            )
        return self.training.features(per_class)

    def feature_mean(self) -> float:
        """Mean feature value over a class-balanced draw of training clips (cached)."""
        if self._mean is None:
            from audiointerp.interpretation.slice import feature_mean

            self._mean = feature_mean(self.training_features(FEATURE_MEAN_PER_CLASS))
        return self._mean

    def note(self, text: str) -> None:
        """Record a fallback or choice a reader of the results should know about."""
        if text not in self.notes:
            self.notes.append(text)
