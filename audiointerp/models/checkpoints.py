"""Reading and writing classifier checkpoints safely; loading PANNs weights into the backbone.

Every file goes through ``torch.load(..., weights_only=True)``, which unpickles only tensors and
plain containers: a file that carries code is refused before anything runs. Our own format
carries the model config, the frontend config and the class names, so a checkpoint alone is
enough to classify (and interpret) any audio file::

    {"format": "audiointerp-classifier/1", "model": {"arch", "width", "num_classes", "num_bins",
     ...}, "frontend": {...FrontendConfig...}, "classes": [...], "model_state_dict": {...},
     "meta": {...}}
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiointerp.config import to_dict
from audiointerp.errors import CheckpointError, naming_file
from audiointerp.files import sha256_file
from audiointerp.models.base import ModelConfig
from audiointerp.models.checkpoint_checks import FORMAT, check_classifier, load_state
from audiointerp.models.cnn import PannsCnn, TransferCnn14
from audiointerp.models.registry import model_from_config
from audiointerp.processing import Frontend, FrontendConfig, build_frontend
from audiointerp.runtime import default_device

log = logging.getLogger(__name__)

# Entries of a PANNs file that belong to its built-in frontend or its AudioSet head.
PANNS_DROPPED_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.", "fc_audioset.")
PANNS_BINS = 64


@dataclass
class LoadedClassifier:
    """A classifier ready to use: model in eval mode plus what is needed to feed it.

    Attributes
    ----------
    model : torch.nn.Module
        ``forward((B, 1, F, T)) -> logits``, in eval mode, on the requested device.
    frontend : Frontend
        The frontend the model was trained with (on the same device).
    classes : list of str
        Class names in logit order.
    config : ModelConfig
        Architecture description (the family's config).
    meta : dict
        Free-form provenance (data seed, accuracy, training time...).
    path : Path or None
        The file it was read from.
    sha256 : str or None
        SHA-256 of that file's bytes: what run fingerprints and fitted interpreters bind to.
    """

    model: nn.Module
    frontend: Frontend
    classes: list[str]
    config: ModelConfig
    meta: dict[str, Any]
    path: Path | None = None
    sha256: str | None = None

    @property
    def duration_s(self) -> float | None:
        """Clip length in seconds the model was trained on or expects (``None`` if unknown):
        ``meta["duration_s"]`` (Hugging Face ASTs: their ``max_length``), else the training
        config's ``data.duration_s``."""
        if self.meta.get("duration_s") is not None:
            return float(self.meta["duration_s"])
        data = (self.meta.get("train_config") or {}).get("data") or {}
        value = data.get("duration_s")
        return None if value is None else float(value)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def read_checkpoint(path: str | Path) -> Any:
    """Unpickle a checkpoint file with ``weights_only=True``, on CPU.

    Parameters
    ----------
    path : str or Path
        A ``.pt``/``.pth`` file written by ``torch.save``.

    Returns
    -------
    object
        The stored object (normally a dict).

    Raises
    ------
    CheckpointError
        Missing, unreadable (permissions), empty, truncated or corrupt file, or a pickle that
        would run code; the message names the file and the cause.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is a folder, not a file; pass the .pt file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1)
    except PermissionError:
        raise CheckpointError(
            f"checkpoint {path} cannot be read: permission denied; make it readable "
            f"(chmod u+r {path}) or copy it somewhere you can read"
        ) from None
    except OSError as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({exc.strerror or exc}); check the disk or copy "
            "the file again"
        ) from None
    if not head:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes): a download or save was interrupted; "
            "download or train it again"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} holds objects other than tensors and plain containers, so it was "
            f"refused without running anything ({_first_line(exc)}); use a file written "
            "by audiointerp or a PANNs release file from Zenodo"
        ) from exc
    except PermissionError:
        raise CheckpointError(
            f"checkpoint {path} cannot be read: permission denied; make it readable "
            f"(chmod u+r {path})"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # any failure to parse the bytes means a bad file
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({_first_line(exc)}); the file is truncated or "
            "not a PyTorch checkpoint: download or train it again"
        ) from exc


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file in the same folder and ``os.replace``: a crash
    or a full disk never leaves a half-written checkpoint under the real name (nor a
    temporary file behind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:  # os.open with 0o666 honours the user's umask (mkstemp would make it 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:  # name the checkpoint, not the temporary file
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        with naming_file(path), os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _as_dict(cfg: Any) -> dict[str, Any]:
    return to_dict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)


def save_classifier(
    path: str | Path,
    model: nn.Module,
    *,
    model_config: ModelConfig | dict[str, Any],
    frontend_config: FrontendConfig | dict[str, Any],
    classes: list[str],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a self-describing classifier checkpoint (atomically).

    Parameters
    ----------
    path : str or Path
        Output file.
    model : torch.nn.Module
        A model built by :func:`~audiointerp.models.build_model`.
    model_config : ModelConfig or dict
        Its architecture (``pretrained`` is not needed to rebuild it and is kept as provenance).
    frontend_config : FrontendConfig or dict
        The frontend its input features come from.
    classes : list of str
        Class names in logit order.
    meta : dict, optional
        Plain-typed provenance.

    Returns
    -------
    Path
    """
    model_cfg = _as_dict(model_config)
    model_cfg.update(num_classes=len(classes), num_bins=int(model.num_bins))
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    obj = {
        "format": FORMAT,
        "model": model_cfg,
        "frontend": _as_dict(frontend_config),
        "classes": list(classes),
        "model_state_dict": state,
        "meta": dict(meta or {}),
    }
    path = Path(path)
    atomic_torch_save(obj, path)
    return path


def load_classifier(
    path: str | Path, *, device: str | torch.device | None = None
) -> LoadedClassifier:
    """Load a checkpoint written by :func:`save_classifier` (validated first), or a Hugging
    Face AST directory.

    Before anything is built the file's structure is checked (:func:`check_classifier`): the
    entries and their types, the class list against the model's output size, every tensor's
    type, shape and values (NaN/Inf weights are refused).

    Parameters
    ----------
    path : str or Path
        Checkpoint file (e.g. ``weights/default_mel.pt``), or a local ``save_pretrained``
        directory of an ``ASTForAudioClassification`` (:mod:`audiointerp.models.hf_ast`; needs
        ``pip install -e .[hf]``).
    device : str or torch.device, optional
        Defaults to CUDA when available, else CPU.

    Returns
    -------
    LoadedClassifier

    Raises
    ------
    CheckpointError
        The file cannot be read or does not describe a usable classifier; the message names
        the file, the problem and what to do.
    """
    path = Path(path)
    if path.is_dir():
        from audiointerp.models.hf_ast import is_hf_directory, load_hf_ast

        if not is_hf_directory(path):
            raise CheckpointError(
                f"{path} is a folder without config.json; pass a checkpoint file or a Hugging "
                "Face AST directory written by save_pretrained"
            )
        return load_hf_ast(path, device=default_device(str(device) if device else None))
    dev = default_device(str(device) if device is not None else None)
    obj = read_checkpoint(path)
    cfg, frontend_cfg, shape, classes = check_classifier(obj, path)
    model = model_from_config(cfg, **shape)
    load_state(model, obj["model_state_dict"], path)
    frontend = build_frontend(frontend_cfg).to(dev)
    return LoadedClassifier(
        model.to(dev).eval(),
        frontend,
        classes,
        cfg,
        dict(obj.get("meta") or {}),
        path=path,
        sha256=sha256_file(path),
    )


def panns_backbone_state(panns_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert a PANNs state dict to this package's backbone layout.

    Drops the extractor and AudioSet-head entries and transposes conv kernels: PANNs feeds
    ``(B, 1, T, F)`` whereas our models take ``(B, 1, F, T)``, so a kernel's two spatial axes swap.

    Parameters
    ----------
    panns_state : dict of str to torch.Tensor
        ``checkpoint["model"]`` of a PANNs release file.

    Returns
    -------
    dict of str to torch.Tensor
    """
    out = {}
    for key, value in panns_state.items():
        if key.startswith(PANNS_DROPPED_PREFIXES):
            continue
        if ".conv" in key and key.endswith(".weight") and value.ndim == 4:
            value = value.transpose(-1, -2).contiguous()
        out[key] = value
    return out


def load_panns_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Initialise a model's backbone from a PANNs checkpoint (``{"model": state_dict}``).

    Parameters
    ----------
    model : PannsCnn or TransferCnn14
        At width 1.0, of the same depth as the file (Cnn6/Cnn10/Cnn14).
    path : str or Path
        A PANNs release file, e.g. ``pretrained/Cnn14_mAP=0.431.pth``.

    Returns
    -------
    list of str
        Backbone keys left at their initial values (``bn0.*`` when the model does not have
        64 bins; the head is always new).

    Raises
    ------
    CheckpointError
        Not a PANNs file, a different depth or width, or mismatched shapes.
    """
    path = Path(path)
    backbone = model.base if isinstance(model, TransferCnn14) else model
    if not isinstance(backbone, PannsCnn):
        raise CheckpointError(f"cannot load PANNs weights {path} into {type(model).__name__}")
    obj = read_checkpoint(path)
    sd = obj.get("model") if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not any(k.startswith("conv_block1.") for k in sd):
        raise CheckpointError(
            f"{path} is not a PANNs checkpoint (expected {{'model': state_dict}} with conv_block1.* "
            "entries); get Cnn14_mAP=0.431.pth from Zenodo record 3987831 (see pretrained/README.md)"
        )
    state = panns_backbone_state(sd)
    own = backbone.state_dict()
    skipped = []
    if state.get("bn0.weight") is not None and state["bn0.weight"].shape[0] != backbone.num_bins:
        skipped = [k for k in own if k.startswith("bn0.")]
        state = {k: v for k, v in state.items() if not k.startswith("bn0.")}
        log.info(
            "%s: bn0 has %d bins, model has %d; bn0 left at init",
            path,
            PANNS_BINS,
            backbone.num_bins,
        )
    wanted = [k for k in own if not k.startswith(("fc_out.", *skipped))]
    problems = [f"missing {k}" for k in wanted if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in wanted
        if k in state and state[k].shape != own[k].shape
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; ... ({len(problems)} in all)" if len(problems) > 5 else ""
        )
        raise CheckpointError(
            f"PANNs checkpoint {path} does not fit {backbone.arch} at width {backbone.width} "
            f"({shown}); use the file of the same architecture (Cnn6/Cnn10/Cnn14) with width 1.0"
        )
    backbone.load_state_dict({k: state[k] for k in wanted}, strict=False)
    return skipped + [k for k in own if k.startswith("fc_out.")]
