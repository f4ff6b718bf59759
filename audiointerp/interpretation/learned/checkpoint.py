"""Self-describing interpreter checkpoints, bound to the classifier they were fitted for.

A fitted interpreter only makes sense for the classifier whose hidden maps and decisions it
learned, so its file records that classifier's SHA-256 (of the checkpoint file's bytes, as
:class:`~audiointerp.models.checkpoints.LoadedClassifier` computes it), its frontend and its
classes, beside the interpreter's own config and weights::

    {"format": "audiointerp-interpreter/1", "method": "lmac",
     "classifier": {"sha256", "file", "frontend": {...}, "classes": [...], "n_bins",
                    "hidden": {...}},
     "config": {...interpreter config...}, "fit": {...fit config...},
     "state_dict": {...}, "meta": {"fit_seconds", "validation", "history", ...}}

Files are read with ``torch.load(weights_only=True)`` (through
:func:`audiointerp.models.checkpoints.read_checkpoint`), so a file that carries code is refused
before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audiointerp.errors import CheckpointError
from audiointerp.files import sha256_file
from audiointerp.models.checkpoints import atomic_torch_save, read_checkpoint

FORMAT = "audiointerp-interpreter/1"
_REQUIRED = ("method", "classifier", "config", "state_dict")


@dataclass
class InterpreterCheckpoint:
    """A read interpreter checkpoint.

    Attributes
    ----------
    method : str
        Registry name of the method that fitted it (``"lmac"``, ``"l2i"``, ...).
    classifier : dict
        ``sha256``, ``file``, ``frontend``, ``classes``, ``n_bins`` (feature rows) and
        ``hidden`` (map shapes) of the classifier it is bound to.
    config : dict
        The interpreter's config (its method's ``Config`` dataclass as a dict).
    state_dict : dict of str to torch.Tensor
        Weights and fitted buffers (an NMF dictionary, reference levels).
    fit : dict
        The fit run's config (data, optimisation, seed).
    meta : dict
        Provenance: fit time, validation numbers, history, machine.
    path : Path or None
        The file it was read from.
    sha256 : str or None
        SHA-256 of that file.
    """

    method: str
    classifier: dict[str, Any]
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    fit: dict[str, Any]
    meta: dict[str, Any]
    path: Path | None = None
    sha256: str | None = None

    @property
    def classifier_sha256(self) -> str:
        return str(self.classifier.get("sha256", ""))


def save_interpreter(
    path: str | Path,
    *,
    method: str,
    classifier: dict[str, Any],
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    fit: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write an interpreter checkpoint atomically (see the module docstring for the layout)."""
    if not classifier.get("sha256"):
        raise CheckpointError(
            f"cannot save {path}: the classifier's SHA-256 is unknown; load the classifier "
            "from its checkpoint file (load_classifier) so the interpreter can be bound to it"
        )
    obj = {
        "format": FORMAT,
        "method": str(method),
        "classifier": dict(classifier),
        "config": dict(config),
        "fit": dict(fit or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "meta": dict(meta or {}),
    }
    path = Path(path)
    atomic_torch_save(obj, path)
    return path


def read_interpreter(path: str | Path) -> InterpreterCheckpoint:
    """Read an interpreter checkpoint (``weights_only=True``) and check its layout.

    Raises
    ------
    CheckpointError
        Missing or unreadable file, a classifier checkpoint or other file passed instead, or
        missing entries.
    """
    path = Path(path)
    obj = read_checkpoint(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        hint = ""
        if isinstance(obj, dict) and obj.get("format", "").startswith("audiointerp-classifier"):
            hint = " It is a classifier checkpoint: pass it as --weights, not as the interpreter."
        raise CheckpointError(
            f"{path} is not an interpreter checkpoint (no format {FORMAT!r}); pass a file "
            f"written by `audiointerp fit`.{hint}"
        )
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise CheckpointError(f"interpreter checkpoint {path} lacks {missing}; fit it again")
    return InterpreterCheckpoint(
        method=str(obj["method"]),
        classifier=dict(obj["classifier"]),
        config=dict(obj["config"]),
        state_dict=dict(obj["state_dict"]),
        fit=dict(obj.get("fit", {})),
        meta=dict(obj.get("meta", {})),
        path=path,
        sha256=sha256_file(path),
    )


def _short(sha: str | None) -> str:
    return (sha or "unknown")[:12]


def resolve_checkpoint(
    checkpoint: str | Path | Sequence[str | Path] | None,
    *,
    method: str,
    classifier_sha256: str | None,
    accept: Sequence[str] | None = None,
) -> InterpreterCheckpoint:
    """The checkpoint of ``checkpoint`` (a path, or a list of paths) bound to the classifier.

    A list lets one experiment config name the interpreters of several classifiers
    (``lmac: {checkpoint: [weights/lmac_default_mel.pt, weights/lmac_default_stft.pt]}``):
    the one bound to ``classifier_sha256`` is used.

    Parameters
    ----------
    checkpoint : path or list of paths
        The ``checkpoint`` option of the method.
    method : str
        The method being built (errors name it).
    classifier_sha256 : str or None
        SHA-256 of the explained classifier's file (``MethodContext.model_sha256``). ``None``
        (a classifier built in memory) cannot be checked and is refused.
    accept : sequence of str, optional
        Method names whose checkpoints this method can read (default ``[method]``).

    Raises
    ------
    CheckpointError
        No checkpoint given, a file of another method, or none bound to this classifier.
    """
    fit_hint = (
        f"fit one with `audiointerp fit --method {method} --weights CLASSIFIER.pt --data DIR "
        f"--out weights/{method}_<classifier>.pt`"
    )
    if checkpoint is None or (not isinstance(checkpoint, (str, Path)) and not len(checkpoint)):
        raise CheckpointError(
            f"method {method!r} is a learned interpreter and needs checkpoint=FILE (an "
            f"interpreter fitted for this classifier); {fit_hint}"
        )
    if classifier_sha256 is None:
        raise CheckpointError(
            f"method {method!r}: the classifier's SHA-256 is unknown, so the interpreter's "
            "binding cannot be checked; load the classifier from its file (load_classifier) "
            "or pass model_sha256 to the MethodContext"
        )
    paths = [checkpoint] if isinstance(checkpoint, (str, Path)) else list(checkpoint)
    accept = tuple(accept or (method,))
    seen = []
    for p in paths:
        ckpt = read_interpreter(p)
        if ckpt.method not in accept:
            raise CheckpointError(
                f"{p} was fitted by method {ckpt.method!r}, not {' or '.join(map(repr, accept))}; "
                f"pass a {method} checkpoint"
            )
        if ckpt.classifier_sha256 == classifier_sha256:
            return ckpt
        seen.append(
            f"{p} is bound to {ckpt.classifier.get('file', '?')} "
            f"(sha256 {_short(ckpt.classifier_sha256)}...)"
        )
    raise CheckpointError(
        f"method {method!r}: no interpreter checkpoint is bound to this classifier (sha256 "
        f"{_short(classifier_sha256)}...): {'; '.join(seen)}. An interpreter only explains the "
        f"classifier it was fitted for (retrained or another classifier?); {fit_hint}"
    )


def describe_classifier(classifier: Any, hidden: dict[str, list[int]]) -> dict[str, Any]:
    """The ``classifier`` entry of a checkpoint for a :class:`LoadedClassifier`."""
    from audiointerp.config import to_dict

    return {
        "sha256": classifier.sha256,
        "file": Path(classifier.path).name if classifier.path is not None else None,
        "frontend": to_dict(classifier.frontend.config),
        "classes": list(classifier.classes),
        "n_bins": int(classifier.frontend.n_bins),
        "hidden": {k: list(v) for k, v in hidden.items()},
    }
