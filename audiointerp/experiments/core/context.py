"""Training data for the methods, and :func:`build_methods`: one way to build every method.

:class:`DatasetTraining` supplies what methods take from the training folds (SHAP's background,
the slice method's fill value) as clean features of a seeded, class-balanced draw, computed
with the explained model's own frontend and cached per draw size. :func:`build_methods` builds
each method of a config through the registry with a
:class:`~audiointerp.interpretation.MethodContext` holding the model, its frontend and that
training data, so the grid, ``interpret``, the illustration and the explorer build identical
methods from identical options.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiointerp.data.config import DataConfig
from audiointerp.errors import DatasetError
from audiointerp.interpretation import AttributionMethod, MethodContext, build_method

log = logging.getLogger(__name__)


def balanced_indices(labels: np.ndarray, per_class: int, *, seed: int) -> np.ndarray:
    """``per_class`` seeded indices of each class (fewer where a class has fewer clips)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    out = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        out.extend(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.asarray(out, dtype=np.int64))


class DatasetTraining:
    """Clean training features of a data set's training folds, for one frontend.

    Parameters
    ----------
    root : str or Path
        Data set folder.
    folds : sequence of int
        Its training folds.
    frontend : Frontend
        The explained model's frontend.
    seed : int
        Seed of the class-balanced draw.
    device : torch.device
    duration_s : float or None
        Clip length.
    esc10 : bool
        ESC-50 only: the ESC-10 subset.
    layout : str
        Loader layout (``"auto"`` detects it).
    data : DataConfig, optional
        A config whose training split (its folds, or its stratified ``split``, and its
        ``classes``) is used instead of ``root``/``folds``.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        folds: Sequence[int],
        frontend: Any,
        seed: int,
        device: torch.device | str,
        duration_s: float | None = 5.0,
        esc10: bool = False,
        layout: str = "auto",
        data: DataConfig | None = None,
    ) -> None:
        self.data = data  # when given, its training split (folds or data.split) is used
        self.root = str(root)
        self.folds = tuple(int(f) for f in folds)
        self.frontend = frontend
        self.seed = int(seed)
        self.device = torch.device(device)
        self.duration_s = duration_s
        self.esc10 = bool(esc10)
        self.layout = layout
        self._cache: dict[int, torch.Tensor] = {}
        where = data.describe_split("train") if data is not None else f"folds {list(self.folds)}"
        self.description = f"{self.root} {where} (seed {self.seed})"

    @classmethod
    def from_config(
        cls, data: DataConfig, frontend: Any, *, seed: int, device: torch.device | str
    ) -> DatasetTraining:
        """The training folds of a config's ``data`` section."""
        return cls(
            data.root,
            folds=data.train_folds,
            frontend=frontend,
            seed=seed,
            device=device,
            duration_s=data.duration_s,
            esc10=data.esc10,
            layout=data.layout,
            data=data,
        )

    def features(self, per_class: int) -> torch.Tensor:
        """Features ``(K, 1, F, T)`` of ``per_class`` seeded training clips per class (cached)."""
        if per_class not in self._cache:
            from audiointerp.data import open_dataset
            from audiointerp.data.selection import open_split

            if self.data is not None:
                train = open_split(self.data, "train", sr=self.frontend.sr)
            else:
                train = open_dataset(
                    self.root,
                    sr=self.frontend.sr,
                    duration_s=self.duration_s,
                    folds=list(self.folds),
                    esc10=self.esc10,
                    layout=self.layout,
                )
            if not len(train):
                raise DatasetError(
                    f"{self.root}: no clips in training folds {list(self.folds)}; the SHAP "
                    "background and the slice fill come from them (set data.train_folds)"
                )
            idx = balanced_indices(train.labels, per_class, seed=self.seed)
            waves, _, _ = train.load_batch(idx)
            with torch.inference_mode():
                feats = self.frontend.features(torch.from_numpy(waves).to(self.device))
            self._cache[per_class] = feats.clone()  # a normal tensor: usable where grads flow
        return self._cache[per_class]


def method_context(
    model: torch.nn.Module,
    frontend: Any,
    *,
    data: DataConfig | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    model_sha256: str | None = None,
) -> MethodContext:
    """A :class:`MethodContext` with training data from ``data`` (``None``: no training data)."""
    if device is None:
        device = next(model.parameters()).device
    training = None
    if data is not None:
        training = DatasetTraining.from_config(data, frontend, seed=seed, device=device)
    return MethodContext(model, frontend, training, model_sha256=model_sha256)


def build_methods(
    methods: Mapping[str, Mapping[str, Any] | None], context: MethodContext
) -> dict[str, AttributionMethod]:
    """Build every method of a config's ``methods`` mapping for one model.

    Parameters
    ----------
    methods : mapping of str to dict
        Method name -> options, as written in an experiment config.
    context : MethodContext
        The model, its frontend and its training data (:func:`method_context`).

    Returns
    -------
    dict of str to AttributionMethod
        In the mapping's order.
    """
    out = {}
    for name, options in methods.items():
        out[name] = build_method(name, dict(options or {}), context)
        log.info("method %s: %s", name, out[name].describe())
    return out
