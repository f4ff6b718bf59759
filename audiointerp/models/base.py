"""The model protocol every classifier family follows, and the base of the ``model`` config.

A classifier maps dB spectrogram features ``(B, 1, F, T)`` to logits ``(B, C)``. What the
interpretation methods may read besides the logits is declared here, once:

- ``kind``: ``"cnn"`` or ``"transformer"`` (methods declare the kinds they support);
- ``hidden(features)``: named hidden feature maps, shallow to deep (decoders of the learned
  interpreters read them);
- ``gradcam_layer``: the dotted name of the layer Grad-CAM reads (``None`` if there is none);
- ``attentions(features)`` and ``token_grid(n_bins, n_frames)``: per-layer attention maps and
  the patch grid, for transformers; ``attend(features)`` gives the logits and the attention
  maps of one forward pass (for gradients of the logits with respect to the attention) and
  ``token_layout(n_bins, n_frames)`` where each token sits on the features
  (:class:`~audiointerp.models.tokens.TokenLayout`);
- ``input_grid(n_bins, n_frames)``: the grid the first layer resolves (coarser than the input
  when the model pools it first), which bounds the resolution of gradient maps.

:attr:`AudioClassifier.capabilities` summarises which of these a model offers, so a method can
say what it needs (``requires = frozenset({"attention"})``) without knowing the family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from audiointerp.errors import ParameterError

#: What a model may offer besides logits (see :attr:`AudioClassifier.capabilities`).
CAPABILITIES: tuple[str, ...] = ("gradcam", "hidden", "attention")


class AudioClassifier(nn.Module):
    """Base class of the package's classifiers (the model protocol).

    Subclasses set ``kind``, ``num_classes``, ``num_bins`` and ``gradcam_layer`` and implement
    ``forward``; they override :meth:`hidden` (and, for transformers, :meth:`attentions` and
    :meth:`token_grid`) when they have them.
    """

    kind: ClassVar[str] = "cnn"
    num_classes: int
    num_bins: int
    gradcam_layer: str | None = None

    def hidden(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named hidden feature maps ``{name: (B, C_i, F_i, T_i)}``, shallow to deep."""
        raise ParameterError(f"{type(self).__name__} does not expose hidden feature maps")

    def attentions(self, features: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer attention probabilities ``(B, heads, N, N)``, first layer first."""
        raise ParameterError(
            f"{type(self).__name__} is a {self.kind} and has no attention maps; attention-based "
            "methods need a transformer (e.g. build_model('ast', ...))"
        )

    def input_grid(self, n_bins: int, n_frames: int) -> tuple[int, int]:
        """``(rows, columns)`` of the input as the first layer that sees it resolves it: the
        full ``(n_bins, n_frames)`` unless the model pools its input first, which makes every
        input gradient constant over each pooled cell (the finest grid gradient maps have)."""
        return int(n_bins), int(n_frames)

    def token_grid(self, n_bins: int, n_frames: int) -> tuple[int, int]:
        """``(n_freq_patches, n_time_patches)`` of the token grid for an ``F x T`` input."""
        raise ParameterError(f"{type(self).__name__} has no token grid")

    def attend(self, features: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``(B, C)`` and :meth:`attentions` of the same forward pass (one graph)."""
        self.attentions(features)  # raises the explanatory error for models without attention
        raise ParameterError(f"{type(self).__name__} does not implement attend()")

    def token_layout(self, n_bins: int, n_frames: int) -> Any:
        """The :class:`~audiointerp.models.tokens.TokenLayout` of an ``F x T`` input."""
        raise ParameterError(f"{type(self).__name__} has no token layout")

    @property
    def capabilities(self) -> frozenset[str]:
        """Which of :data:`CAPABILITIES` this model offers."""
        cls = type(self)
        caps = set()
        if self.gradcam_layer is not None:
            caps.add("gradcam")
        if cls.hidden is not AudioClassifier.hidden:
            caps.add("hidden")
        if cls.attentions is not AudioClassifier.attentions:
            caps.add("attention")
        return frozenset(caps)


def model_kind(model: nn.Module) -> str:
    """The model's ``kind`` (``"cnn"`` for plain modules that do not declare one)."""
    return str(getattr(model, "kind", "cnn"))


def model_capabilities(model: nn.Module) -> frozenset[str]:
    """:attr:`AudioClassifier.capabilities`, or what a plain module visibly offers."""
    caps = getattr(model, "capabilities", None)
    if caps is not None:
        return frozenset(caps)
    return frozenset({"gradcam"} if getattr(model, "gradcam_layer", None) else set())


@dataclass
class ModelConfig:
    """The ``model`` section of a training config: ``arch`` plus the family's own fields.

    Each family subclasses it (:class:`~audiointerp.models.cnn.CnnConfig`, ...); reading a
    mapping dispatches on ``arch`` through the model registry, so the fields a family does not
    know are errors that name the key.

    Attributes
    ----------
    arch : str
        A name of :data:`audiointerp.models.registry.MODEL_NAMES`.
    pretrained : str or None
        A weights file to initialise from (never downloaded); ``None`` trains from scratch.
    """

    arch: str = "cnn6"
    pretrained: str | None = None

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, where: str = "model") -> ModelConfig:
        """Build the config of ``data["arch"]``'s family (used by :func:`audiointerp.config.from_dict`)."""
        from audiointerp.models.registry import model_config

        return model_config(data, where=where)
