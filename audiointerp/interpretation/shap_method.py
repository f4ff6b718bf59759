"""SHAP values of the target logit: shap.DeepExplainer (as in the paper) or GradientExplainer.

Layers that need care with DeepExplainer (it hooks every leaf module):

- ReLU must be an ``nn.ReLU`` module, not in place (full backward hooks reject in-place
  outputs) and not reused: each use needs its own module, because the hook stores the
  module's last input and output for the DeepLIFT rescale rule.
- Functional ops (``F.relu``, ``torch.max`` / ``torch.mean`` pooling over time or frequency,
  ``F.dropout``) are invisible to the hooks: linear ones are exact, but functional
  nonlinearities (PANNs' max over time) get their plain gradient, so attributions no longer
  sum exactly to ``logit(x) - E[logit(background)]``; additivity is therefore not checked.
- BatchNorm is linear only in eval mode (running statistics), which ``attribute`` requires.
- Max/avg pooling modules are supported (``nn.MaxPool2d``, ``nn.AvgPool2d``).

Where DeepExplainer cannot handle a model, ``explainer="gradient"`` (expected gradients) works
with any differentiable model. Attention models are such a case (products of two activations,
softmax and layer norm are not DeepLIFT-rescalable module by module): on them ``"deep"`` falls
back to the gradient explainer, says so in the context's notes, and every row records the
explainer that ran (``Explanation.info["explainer"]``, the ``explainer`` column).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import (
    SILENCE_FLOOR_DB,
    AttributionMethod,
    Explanation,
    check_features,
)
from audiointerp.validation import check_choice, check_positive

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext

log = logging.getLogger(__name__)

#: Training clips per class in the background when a config does not say (the paper's 2).
DEFAULT_BACKGROUND_PER_CLASS = 2

EXPLAINERS: tuple[str, ...] = ("deep", "gradient")
#: Model capabilities DeepExplainer cannot propagate through.
DEEP_UNSUPPORTED: frozenset[str] = frozenset({"attention"})


def explainer_for(requested: str, model: nn.Module) -> str:
    """The explainer that runs on ``model``: ``"gradient"`` instead of ``"deep"`` on models
    with :data:`DEEP_UNSUPPORTED` capabilities, otherwise ``requested``."""
    from audiointerp.models.base import model_capabilities

    if requested == "deep" and model_capabilities(model) & DEEP_UNSUPPORTED:
        return "gradient"
    return requested


def balanced_background(
    features: torch.Tensor, labels: torch.Tensor | np.ndarray, *, per_class: int = 2, seed: int = 0
) -> torch.Tensor:
    """Pick ``per_class`` clips of every class (the paper: 2 per class from the training folds).

    Parameters
    ----------
    features : torch.Tensor, shape (N, 1, F, T)
        Training features.
    labels : array-like of int, shape (N,)
    per_class : int
    seed : int

    Returns
    -------
    torch.Tensor, shape (n_classes * per_class, 1, F, T)
        Ordered by class; a class with fewer clips contributes all it has (logged).
    """
    check_features(features)
    labels = np.asarray(torch.as_tensor(labels).cpu())
    if labels.shape != (features.shape[0],):
        raise ParameterError(f"labels must have shape ({features.shape[0]},), got {labels.shape}")
    check_positive("per_class", per_class)
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            log.warning("class %s has %d clips, fewer than per_class=%d", c, len(idx), per_class)
        picks.extend(sorted(rng.choice(idx, size=min(per_class, len(idx)), replace=False)))
    return features[torch.as_tensor(picks, dtype=torch.long, device=features.device)]


class _ClassOutput(nn.Module):
    """The model's logit of one class as a ``(B, 1)`` output (shap explains every output)."""

    def __init__(self, model: nn.Module, cls: int) -> None:
        super().__init__()
        self.model = model
        self.cls = cls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.cls : self.cls + 1]


def _strip_shap_attributes(model: nn.Module, before: dict[int, set[str]]) -> None:
    # DeepExplainer stores tensors as `x`/`y` Parameters on hooked leaves and removes them only
    # from direct children of containers; drop what it left so the state_dict stays clean.
    for module in model.modules():
        for name in set(module._parameters) - before.get(id(module), set()):
            del module._parameters[name]


class Shap(AttributionMethod):
    """SHAP attributions of the target class logit against a background set.

    Parameters
    ----------
    background : torch.Tensor, shape (N, 1, F, T), optional
        Reference clips, e.g. :func:`balanced_background` of the training folds. ``None`` uses a
        single clip at the silence floor ``base`` (DeepLIFT with a silence reference).
    explainer : {"deep", "gradient"}
        ``shap.DeepExplainer`` (paper) or ``shap.GradientExplainer`` (expected gradients).
        ``"deep"`` falls back to ``"gradient"`` on attention models (:func:`explainer_for`).
    n_samples : int
        Samples per clip for the gradient explainer (each a forward and backward pass).
    base : float
        Silence floor used when ``background`` is None.
    seed : int
        Seed of the gradient explainer's sampling.
    abs : bool
        Return the magnitude of the SHAP values (evidence either way counts as important).
    batch_size : int
        Inputs per pass of the gradient explainer. DeepExplainer always runs one clip tiled
        against the background (``2 N`` inputs per pass).

    Notes
    -----
    Lundberg & Lee, "A unified approach to interpreting model predictions", NeurIPS 2017.
    DeepExplainer costs ``2 N`` forward+backward evaluations per clip. The shap explainer of a
    (model, class, background) is built once and reused for every clip (building it runs the
    model over the background); the values do not depend on it, since neither explainer keeps
    state between calls that reaches them (the gradient explainer is reseeded per call).
    """

    name = "shap"
    stochastic = True  # the gradient explainer samples; DeepExplainer ignores the seed
    needs_training_data = True

    @classmethod
    def from_config(cls, options: Mapping[str, Any], context: MethodContext | None = None) -> Shap:
        """Take the background from the training data: ``background_per_class`` clean clips of
        every class (default 2, the paper's); without training data, the silence floor.
        """
        options = dict(options)
        per_class = int(options.pop("background_per_class", DEFAULT_BACKGROUND_PER_CLASS))
        check_positive("background_per_class", per_class)
        if context is not None:
            requested = options.get("explainer", "deep")
            if explainer_for(requested, context.model) != requested:
                context.note(
                    "shap: DeepExplainer cannot propagate through attention; GradientExplainer "
                    "(expected gradients) runs on this model (column `explainer`)"
                )
            options.setdefault("base", context.floor_db)
            if context.has_training_data:
                options.setdefault("background", context.training_features(per_class))
            else:
                context.note("shap background: one clip at the silence floor (no training data)")
        return cls(**options)

    def __init__(
        self,
        *,
        background: torch.Tensor | None = None,
        explainer: Literal["deep", "gradient"] = "deep",
        n_samples: int = 200,
        base: float = SILENCE_FLOOR_DB,
        seed: int = 0,
        abs: bool = False,  # noqa: A002  (captum's name for the option)
        batch_size: int = 16,
    ) -> None:
        super().__init__(batch_size=batch_size)
        if background is not None:
            check_features(background, "background")
        self.background = background
        self.explainer = check_choice("explainer", explainer, EXPLAINERS)
        self.n_samples = int(check_positive("n_samples", n_samples))
        self.base = float(base)
        self.seed = int(seed)
        self.abs = bool(abs)
        # explainers of the last model explained, by (explainer, class, background key); one
        # model at a time, so only the last of many (sanity-check copies) is kept alive
        self._model_ref: weakref.ref[nn.Module] | None = None
        self._explainers: dict[tuple[Any, ...], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model_ref"], state["_explainers"] = None, {}  # rebuilt on first use
        return state

    def _explainer(self, model: nn.Module, cls: int, background: torch.Tensor) -> tuple[str, Any]:
        """The (cached) shap explainer of ``model``'s logit ``cls`` against ``background``."""
        import shap

        kind = explainer_for(self.explainer, model)
        if self._model_ref is None or self._model_ref() is not model:
            self._model_ref, self._explainers = weakref.ref(model), {}
        key = (
            kind,
            cls,
            id(self.background),
            tuple(background.shape),
            background.dtype,
            str(background.device),
            self.batch_size,
        )
        if key not in self._explainers:
            wrapped = _ClassOutput(model, cls)
            if kind == "deep":
                self._explainers[key] = shap.DeepExplainer(wrapped, background)
            else:
                self._explainers[key] = shap.GradientExplainer(
                    wrapped, background, batch_size=self.batch_size
                )
        return kind, self._explainers[key]

    def _background(self, features: torch.Tensor) -> torch.Tensor:
        if self.background is None:
            return torch.full_like(features[:1], self.base)
        if self.background.shape[1:] != features.shape[1:]:
            raise ParameterError(
                f"background clips have shape {tuple(self.background.shape[1:])} but features "
                f"have {tuple(features.shape[1:])}; build the background with the same frontend"
            )
        return self.background.to(features.device, features.dtype)

    def _explain_class(
        self, model: nn.Module, x: torch.Tensor, cls: int, background: torch.Tensor
    ) -> np.ndarray:
        kind, explainer = self._explainer(model, cls, background)
        if kind == "deep":
            values = explainer.shap_values(x, check_additivity=False)
        else:
            # one call per clip with the same seed: a clip's draws do not depend on its batch
            values = np.concatenate(
                [
                    explainer.shap_values(x[j : j + 1], nsamples=self.n_samples, rseed=self.seed)
                    for j in range(x.shape[0])
                ]
            )
        values = np.asarray(values[0] if isinstance(values, list) else values)
        return values.reshape(x.shape)  # drops shap's trailing output axis of size 1

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
        *,
        ground_truth: torch.Tensor | None = None,
    ) -> Explanation:
        """SHAP values, with the explainer that ran in ``info["explainer"]``."""
        ex = super().explain(model, features, target)
        ex.info["explainer"] = explainer_for(self.explainer, model)
        return ex

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        background = self._background(features)
        before = {id(m): set(m._parameters) for m in model.modules()}
        out = torch.zeros_like(features)
        try:
            for cls in torch.unique(target).tolist():  # one explainer per explained class
                idx = (target == cls).nonzero()[:, 0]
                values = self._explain_class(model, features[idx], int(cls), background)
                out[idx] = torch.from_numpy(values).to(out)
        finally:
            _strip_shap_attributes(model, before)
        return out.abs() if self.abs else out
