"""Build the grid's attribution methods for one model, with what they need from training data.

SHAP's background is a class-balanced draw of ``background_per_class`` clips per class from
the training folds; the slice method's fill value is the mean training feature value (the
paper's choice). Both are computed with the model's own frontend, once per model.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np
import torch

from audiointerp.experiments.config import RUNNER_METHOD_KEYS, ExperimentConfig

log = logging.getLogger(__name__)

DEFAULT_BACKGROUND_PER_CLASS = 2


def balanced_indices(labels: np.ndarray, per_class: int, *, seed: int) -> np.ndarray:
    """``per_class`` seeded indices of each class (fewer where a class has fewer clips)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    out = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        out.extend(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.asarray(out, dtype=np.int64))


def training_features(
    cfg: ExperimentConfig, frontend: Any, *, per_class: int, device: torch.device
) -> torch.Tensor:
    """Features ``(K, 1, F, T)`` of a class-balanced draw of training clips (clean)."""
    from audiointerp.data import open_dataset
    from audiointerp.errors import DatasetError

    train = open_dataset(
        cfg.data.root,
        sr=frontend.sr,
        duration_s=cfg.data.duration_s,
        folds=list(cfg.data.train_folds),
        esc10=cfg.data.esc10,
        layout=cfg.data.layout,
    )
    if not len(train):
        raise DatasetError(
            f"{cfg.data.root}: no clips in training folds {cfg.data.train_folds}; the SHAP "
            "background and the slice fill come from them (set data.train_folds)"
        )
    idx = balanced_indices(train.labels, per_class, seed=cfg.seed)
    waves, _, _ = train.load_batch(idx)
    with torch.inference_mode():
        feats = frontend.features(torch.from_numpy(waves).to(device))
    return feats.clone()  # a normal tensor, usable where gradients flow (SHAP)


def _accepts(cls: type, name: str) -> bool:
    return name in inspect.signature(cls.__init__).parameters


def build_methods(
    cfg: ExperimentConfig,
    model: torch.nn.Module,
    frontend: Any,
    classes: list[str],
    *,
    device: torch.device,
) -> dict[str, Any]:
    """Instantiate every method of ``cfg.methods`` for one model.

    Parameters
    ----------
    cfg : ExperimentConfig
    model : nn.Module
        The classifier (Grad-CAM's default layer is ``model.gradcam_layer``).
    frontend : Frontend
        The model's frontend (for training features).
    classes : list of str
        The model's classes.
    device : torch.device

    Returns
    -------
    dict of str to AttributionMethod
    """
    from audiointerp.interpretation import get_method
    from audiointerp.interpretation.slice import feature_mean

    cache: dict[int, torch.Tensor] = {}

    def train_feats(per_class: int) -> torch.Tensor:
        if per_class not in cache:
            cache[per_class] = training_features(cfg, frontend, per_class=per_class, device=device)
        return cache[per_class]

    methods = {}
    for name, opts in cfg.methods.items():
        options = {k: v for k, v in opts.items() if k not in RUNNER_METHOD_KEYS}
        cls = type(get_method(name, **options))
        if name == "shap" and _accepts(cls, "background"):
            k = int(opts.get("background_per_class", DEFAULT_BACKGROUND_PER_CLASS))
            options["background"] = train_feats(k)
        fill = opts.get("fill", "train_mean" if name == "slice" else None)
        if fill is not None and _accepts(cls, "fill"):
            options["fill"] = (
                feature_mean(train_feats(DEFAULT_BACKGROUND_PER_CLASS))
                if fill == "train_mean"
                else float(fill)
            )
        if name == "gradcam" and "layer" not in options and _accepts(cls, "layer"):
            options["layer"] = getattr(model, "gradcam_layer", None)
        methods[name] = get_method(name, **options)
        log.info("method %s: %s", name, {k: v for k, v in options.items() if k != "background"})
    return methods
