"""Validation of a classifier checkpoint's contents before anything is built from it.

:func:`check_classifier` reads what ``torch.load(..., weights_only=True)`` returned and
refuses, naming the file and the entry, anything that would fail later with a traceback or,
worse, give silently wrong numbers: a wrong structure (``model`` a string, a state dict of
ints), a class list whose length differs from the model's outputs (predictions past the names
would vanish from a confusion matrix), a frontend that does not give the model's input size,
non-tensor entries and NaN/Inf weights (which classify everything as one class).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiointerp.config import from_dict
from audiointerp.errors import CheckpointError, ParameterError
from audiointerp.models.base import ModelConfig
from audiointerp.models.registry import model_config
from audiointerp.processing import FrontendConfig

__all__ = ["FORMAT", "check_classifier", "load_state"]

FORMAT = "audiointerp-classifier/1"

_RETRAIN = "the file was edited, damaged or written by another program: train it again"


def check_classifier(
    obj: Any, path: Path
) -> tuple[ModelConfig, FrontendConfig, dict[str, int], list[str]]:
    """Validate what :func:`read_checkpoint` returned for a classifier file.

    Returns
    -------
    (ModelConfig, FrontendConfig, {"num_classes", "num_bins"}, classes)

    Raises
    ------
    CheckpointError
        Naming the entry that is wrong.
    """
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        hint = ""
        if (
            isinstance(obj, dict)
            and "model" in obj
            and isinstance(obj["model"], dict)
            and any(str(k).startswith("conv_block1.") for k in obj["model"])
        ):
            hint = " It looks like a PANNs release file: use it as model.pretrained in a training config."
        raise CheckpointError(
            f"checkpoint {path} is not an audiointerp classifier (no format {FORMAT!r}); "
            f"pass a file written by `audiointerp train` or save_classifier.{hint}"
        )
    missing = [k for k in ("model", "frontend", "classes", "model_state_dict") if k not in obj]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} lacks {missing}; it is incomplete, train it again"
        )
    for key in ("model", "frontend", "model_state_dict"):
        if not isinstance(obj[key], dict):
            raise CheckpointError(
                f"checkpoint {path}: its `{key}` entry is {type(obj[key]).__name__}, not a "
                f"mapping; {_RETRAIN}"
            )
    if obj.get("meta") is not None and not isinstance(obj["meta"], dict):
        raise CheckpointError(f"checkpoint {path}: its `meta` entry is not a mapping; {_RETRAIN}")
    spec = obj["model"]
    shape = {}
    for key in ("num_classes", "num_bins"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CheckpointError(
                f"checkpoint {path}: model.{key} is {value!r}, not a positive integer; {_RETRAIN}"
            )
        shape[key] = value
    classes = obj["classes"]
    if (
        not isinstance(classes, (list, tuple))
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise CheckpointError(
            f"checkpoint {path}: `classes` must be a list of distinct class names, got "
            f"{str(classes)[:80]}; {_RETRAIN}"
        )
    if len(classes) != shape["num_classes"]:
        raise CheckpointError(
            f"checkpoint {path} names {len(classes)} classes but its model has "
            f"{shape['num_classes']} outputs; predictions past the names could not be reported: "
            f"{_RETRAIN}"
        )
    try:
        cfg = model_config({k: v for k, v in spec.items() if k not in shape}, where="model")
        frontend_cfg = from_dict(FrontendConfig, obj["frontend"], where="frontend")
    except (ParameterError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} has an unusable config: {exc}; {_RETRAIN}"
        ) from exc
    if frontend_cfg.n_bins != shape["num_bins"]:
        raise CheckpointError(
            f"checkpoint {path}: its frontend gives {frontend_cfg.n_bins} frequency bins but its "
            f"model expects {shape['num_bins']}; {_RETRAIN}"
        )
    _check_tensors(obj["model_state_dict"], path)
    return cfg, frontend_cfg, shape, list(classes)


def _check_tensors(state: dict[str, Any], path: Path) -> None:
    """Every entry a tensor; floating tensors finite (one vectorised check per tensor)."""
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        shown = ", ".join(f"{k} ({type(state[k]).__name__})" for k in not_tensors[:3])
        raise CheckpointError(
            f"checkpoint {path}: model_state_dict entries are not tensors: {shown}"
            f"{' ...' if len(not_tensors) > 3 else ''}; {_RETRAIN}"
        )
    bad = [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise CheckpointError(
            f"checkpoint {path}: weights hold NaN or Inf values in {', '.join(bad[:3])}"
            f"{f' and {len(bad) - 3} more tensors' if len(bad) > 3 else ''} (training diverged "
            "or the file is damaged); it cannot classify anything: train it again, e.g. with a "
            "lower learning rate"
        )


def load_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    problems += [
        f"{k}: file {v.dtype} vs model {own[k].dtype}"
        for k, v in state.items()
        if k in own and v.is_floating_point() != own[k].is_floating_point()
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; ... ({len(problems)} in all)" if len(problems) > 5 else ""
        )
        raise CheckpointError(
            f"checkpoint {path} does not fit the model it describes ({shown}); "
            "the file was edited or written by another version: train it again"
        )
    model.load_state_dict(state)
