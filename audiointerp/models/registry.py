"""The model registry: every classifier family behind one name -> builder table.

A family is a config dataclass (a :class:`~audiointerp.models.base.ModelConfig` subclass with
the family's fields) and a ``build(cfg, *, num_classes, num_bins)`` function, bundled as a
:class:`ModelFamily` in the family's own module. Adding a family is that module plus one line
in :data:`_REGISTRY` (or :func:`register_model` at run time, e.g. in a test). Training,
checkpoints and every command build models only through :func:`build_model` /
:func:`model_from_config`, so a new family works everywhere at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from torch import nn

from audiointerp.config import from_dict
from audiointerp.errors import ParameterError
from audiointerp.models.base import ModelConfig
from audiointerp.models.cnn import CnnConfig, build_panns


@dataclass(frozen=True)
class ModelFamily:
    """A classifier family: its config dataclass and its builder."""

    config: type[ModelConfig]
    build: Callable[..., nn.Module]


PANNS = ModelFamily(CnnConfig, build_panns)

# arch name -> ModelFamily or "module:attribute" (imported on first use).
_REGISTRY: dict[str, ModelFamily | str] = {
    "cnn6": PANNS,
    "cnn10": PANNS,
    "cnn14": PANNS,
    "transfer_cnn14": PANNS,
    "ast": "audiointerp.models.ast:AST",
}


def register_model(arch: str, family: ModelFamily | str) -> None:
    """Add (or replace) a family under ``arch``; ``family`` may be ``"module:attribute"``."""
    _REGISTRY[str(arch)] = family


def model_names() -> tuple[str, ...]:
    """Every registered ``arch``, in registration order."""
    return tuple(_REGISTRY)


def model_family(arch: str) -> ModelFamily:
    """The :class:`ModelFamily` registered as ``arch``."""
    if arch not in _REGISTRY:
        valid = ", ".join(repr(n) for n in _REGISTRY)
        raise ParameterError(f"arch={arch!r} is not valid; choose one of: {valid}")
    family = _REGISTRY[arch]
    if isinstance(family, str):
        module, attr = family.split(":")
        family = getattr(importlib.import_module(module), attr)
        _REGISTRY[arch] = family
    return family


def model_config(data: dict[str, Any] | ModelConfig, *, where: str = "model") -> ModelConfig:
    """The family config a mapping describes (dispatch on ``arch``; unknown keys are errors)."""
    if isinstance(data, ModelConfig):
        return data
    if not isinstance(data, dict):
        raise ParameterError(f"{where}: expected a mapping with an `arch` key, got {data!r}")
    arch = data.get("arch", ModelConfig.arch)
    family = model_family(str(arch))
    return from_dict(family.config, {**data, "arch": arch}, where=where)


def build_model(arch: str, *, num_classes: int, num_bins: int, **options: Any) -> nn.Module:
    """Build a classifier by name.

    Parameters
    ----------
    arch : str
        A registered name (:func:`model_names`): ``"cnn6"``, ``"cnn10"``, ``"cnn14"``,
        ``"transfer_cnn14"``, ``"ast"``, ...
    num_classes : int
        Number of output logits.
    num_bins : int
        Number of input frequency bins ``F``.
    **options
        Fields of the family's config (e.g. ``width``, ``dropout``, ``input_pool`` for the
        PANNs family; ``patch``, ``dim``, ``depth``, ``heads`` for the AST).

    Returns
    -------
    torch.nn.Module
        ``forward((B, 1, F, T)) -> logits (B, num_classes)``, following the model protocol
        (:class:`~audiointerp.models.base.AudioClassifier`).
    """
    cfg = model_config({"arch": arch, **options}, where=f"build_model({arch!r})")
    return model_from_config(cfg, num_classes=num_classes, num_bins=num_bins)


def model_from_config(cfg: ModelConfig, *, num_classes: int, num_bins: int) -> nn.Module:
    """Build the model a family config describes (without loading ``pretrained``)."""
    return model_family(cfg.arch).build(cfg, num_classes=num_classes, num_bins=num_bins)


def config_fields(cfg: ModelConfig) -> tuple[str, ...]:
    """Field names of a family config (what a checkpoint's ``model`` entry may hold)."""
    return tuple(f.name for f in fields(cfg))


def __getattr__(name: str) -> Any:
    if name == "MODEL_NAMES":  # kept current when families are registered at run time
        return model_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
