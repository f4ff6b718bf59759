"""The fit/explain life cycle shared by the learned interpreters.

An :class:`Interpreter` is the fitted part (a decoder, a dictionary): a ``torch.nn.Module``
built from its config and a probe of the classifier's hidden maps, fitted once per classifier
by :func:`audiointerp.interpretation.learned.fitting.fit_interpreter` (``audiointerp fit``),
and saved as a checkpoint bound to that classifier's SHA-256. A :class:`LearnedMethod` is the
registered method around it: built from a config's ``checkpoint`` option and a
:class:`~audiointerp.interpretation.MethodContext`, it refuses a checkpoint fitted for another
classifier and then explains like any method (the core scores its native mask as ``native``
beside the 14 threshold masks of its map).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from audiointerp.config import from_dict, to_dict
from audiointerp.errors import CheckpointError, ParameterError
from audiointerp.interpretation.base import DEFAULT_BATCH_SIZE, AttributionMethod, Explanation
from audiointerp.interpretation.learned.checkpoint import (
    InterpreterCheckpoint,
    resolve_checkpoint,
)
from audiointerp.interpretation.learned.decoder import HiddenSpec

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext


@dataclass
class FitBatch:
    """One batch of a fit, prepared once for the interpreter's loss.

    Attributes
    ----------
    features : torch.Tensor (B, 1, F, T)
        Classifier input (clips under their augmentation condition).
    power : torch.Tensor (B, K, T)
        Linear-bin power ``|X|^2`` (for the linear masking rule).
    target : torch.Tensor (B,)
        The classifier's prediction on ``features`` (what the interpretation explains).
    logits : torch.Tensor (B, C)
        The classifier's logits on ``features``.
    labels : torch.Tensor (B,)
        True labels.
    ideal : torch.Tensor (B, 1, F, T) or None
        Ideal mask from the stems (where the clean target dominates), where the data has them.
    clean : torch.Tensor (B, 1, F, T) or None
        Features of the clean target stem under the same condition scaling.
    """

    features: torch.Tensor
    power: torch.Tensor
    target: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    ideal: torch.Tensor | None = None
    clean: torch.Tensor | None = None


class Interpreter(nn.Module):
    """Base of the fitted part of a learned method.

    Subclasses set ``Config`` (a dataclass of their options, the ``interpreter`` section of
    ``configs/interpreters/<method>.yaml``), build their modules in ``__init__(config, spec,
    num_classes, n_bins=..., floor_db=...)`` (the classifier's hidden maps, classes, feature
    rows and silence floor), and implement :meth:`loss` and :meth:`explain`. Data-dependent buffers
    (a dictionary, reference levels) are computed in :meth:`prepare` and saved with the
    weights.

    Attributes
    ----------
    trainable : bool
        Whether fitting runs gradient epochs (``False`` for the NMF baseline, which only
        learns its dictionary in :meth:`prepare`).
    needs_stems : bool
        Its loss reads the ideal mask and the clean target (L-MAC FT): fitting needs data
        with stems.
    """

    Config: ClassVar[type] = object
    trainable: ClassVar[bool] = True
    needs_stems: ClassVar[bool] = False

    def __init__(
        self,
        config: Any,
        spec: HiddenSpec,
        num_classes: int,
        *,
        n_bins: int,
        floor_db: float = -100.0,
    ) -> None:
        super().__init__()
        self.config = config
        self.spec = {k: list(v) for k, v in spec.items()}
        self.num_classes = int(num_classes)
        self.n_bins = int(n_bins)
        self.floor_db = float(floor_db)

    @classmethod
    def config_from(cls, options: Mapping[str, Any] | None, *, where: str = "interpreter"):
        """The ``Config`` dataclass from a mapping (unknown keys are errors naming them)."""
        return from_dict(cls.Config, dict(options or {}), where=where)

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.config)

    def prepare(self, model: nn.Module, frontend: Any, features: torch.Tensor) -> None:
        """Fit data-dependent buffers from clean training ``features`` ``(N, 1, F, T)``."""

    def loss(
        self, model: nn.Module, frontend: Any, batch: FitBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a batch and its logged parts."""
        raise NotImplementedError

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Explanation:
        """Map and native mask ``(B, 1, F, T)`` of ``features`` for class ``target``
        (``batch_size``: most inputs per forward pass, where it runs several)."""
        raise NotImplementedError


class LearnedMethod(AttributionMethod):
    """A registered method around a fitted :class:`Interpreter`.

    Parameters
    ----------
    checkpoint : str, Path or list of them
        The interpreter checkpoint; a list names several (e.g. one per classifier of an
        experiment) and the one bound to ``model_sha256`` is used.
    model_sha256 : str
        SHA-256 of the explained classifier's file (``MethodContext.model_sha256``, filled by
        :meth:`from_config`); a checkpoint bound to another classifier is refused.
    batch_size : int
        Most inputs per forward pass where the method runs several (the NMF baseline).

    Notes
    -----
    The classifier passed to :meth:`explain` is the one whose hidden maps are decoded, so the
    model-randomization sanity check (which keeps the method and randomizes the classifier)
    measures how much the learned mask depends on what the classifier computes.
    """

    needs_fitting: ClassVar[bool] = True
    gives_native_mask: ClassVar[bool] = True
    file_options: ClassVar[tuple[str, ...]] = ("checkpoint",)
    requires: ClassVar[frozenset[str]] = frozenset({"hidden"})
    model_kinds: ClassVar[frozenset[str]] = frozenset({"cnn"})
    interpreter_cls: ClassVar[type[Interpreter]] = Interpreter
    #: Other methods whose checkpoints this one reads (L-MAC FT reads L-MAC's layout).
    reads_checkpoints_of: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        checkpoint: str | Path | list[str | Path] | None = None,
        *,
        model_sha256: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(batch_size=batch_size)
        ckpt = resolve_checkpoint(
            checkpoint,
            method=self.name,
            classifier_sha256=model_sha256,
            accept=(self.name, *self.reads_checkpoints_of),
        )
        self._ckpt = ckpt
        self.checkpoint = str(ckpt.path)
        self.interpreter = self.load_interpreter(ckpt)

    @classmethod
    def load_interpreter(cls, ckpt: InterpreterCheckpoint) -> Interpreter:
        """Rebuild the fitted interpreter of a checkpoint, in eval mode."""
        icls = cls.interpreter_cls
        where = f"{ckpt.path}:config"
        try:
            c = ckpt.classifier
            config = icls.config_from(ckpt.config, where=where)
            interp = icls(
                config,
                c["hidden"],
                len(c["classes"]),
                n_bins=int(c["n_bins"]),
                floor_db=float(c["frontend"].get("floor_db", -100.0)),
            )
            interp.load_state_dict(ckpt.state_dict)
        except (KeyError, RuntimeError, ParameterError) as exc:
            raise CheckpointError(
                f"interpreter checkpoint {ckpt.path} does not fit {icls.__name__} ({exc}); it was "
                "written by another version: fit it again"
            ) from exc
        return interp.eval().requires_grad_(False)

    @classmethod
    def from_config(
        cls, options: Mapping[str, Any], context: MethodContext | None = None
    ) -> LearnedMethod:
        options = dict(options)
        if context is None:
            raise CheckpointError(
                f"method {cls.name!r} needs the classifier it explains (a MethodContext with its "
                "SHA-256) to check the checkpoint's binding"
            )
        method = cls(**options, model_sha256=context.model_sha256)
        frontend = getattr(context.frontend, "config", None)
        if frontend is not None:
            method.check_frontend(to_dict(frontend))
        return method

    def check_frontend(self, frontend: Mapping[str, Any]) -> None:
        """Refuse a classifier whose frontend is not the one the interpreter was fitted on."""
        saved = self._ckpt.classifier.get("frontend")
        if saved is not None and dict(saved) != dict(frontend):
            diff = sorted(k for k in set(saved) | set(frontend) if saved.get(k) != frontend.get(k))
            raise CheckpointError(
                f"{self.checkpoint} was fitted on a classifier with another frontend "
                f"(differs in {diff}); fit it again for this classifier"
            )

    def describe(self) -> dict[str, Any]:
        out = {"checkpoint": self.checkpoint, "batch_size": self.batch_size}
        out["fitted_for"] = self._ckpt.classifier.get("file")
        out.update({f.name: getattr(self.interpreter.config, f.name) for f in fields(self.config)})
        return out

    @property
    def config(self) -> Any:
        return self.interpreter.config

    def to(self, device: torch.device | str) -> LearnedMethod:
        self.interpreter.to(device)
        return self

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
        *,
        ground_truth: torch.Tensor | None = None,
    ) -> Explanation:
        features, target = self._prepare(model, features, target)
        device = features.device
        if next(iter(self.interpreter.buffers()), features).device != device or any(
            p.device != device for p in self.interpreter.parameters()
        ):
            self.interpreter.to(device)
        with torch.no_grad():
            ex = self.interpreter.explain(model, features, target, batch_size=self.batch_size)
        ex.attributions = ex.attributions.detach().float().reshape(features.shape)
        ex.native_mask = ex.native_mask.detach().float().clamp(0.0, 1.0).reshape(features.shape)
        return ex
