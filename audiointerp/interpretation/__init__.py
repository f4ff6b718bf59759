"""Interpretation methods on spectrogram features, the paper's masks and sanity checks.

Every method follows one protocol (:class:`AttributionMethod`):
``attribute(model, features (B, 1, F, T), target=None) -> (B, 1, F, T)`` signed attributions,
and ``explain(...) -> Explanation`` with the method's extras. Methods are built by name from
one registry, either directly or from config options with what they need from a
:class:`MethodContext` (the model, its frontend, training data):

>>> method = get_method("lime", n_samples=1000, batch_size=16)      # doctest: +SKIP
>>> method = build_method("shap", {"background_per_class": 2}, ctx)  # doctest: +SKIP
>>> A = method.attribute(model, features)                            # doctest: +SKIP
>>> masks = make_masks(A)                                            # doctest: +SKIP

Methods (registry order): "saliency", "gradcam", "lime", "shap", "slice" (most important
time-frequency rectangle by occlusion), "ig" (Integrated Gradients), for transformers
"amt", "rollout" and "grad_attention" (attention-based, :mod:`.attention`), and the reference
"methods" every table reads them against: "random" (a seeded random map), "energy" (the input's
level above the floor) and "oracle" (the ideal mask from the stems; benchmark data only).
"""

from typing import Any

from audiointerp.interpretation.base import (
    AttributionMethod,
    Explanation,
    Region,
    forward_batched,
    resolve_target,
)
from audiointerp.interpretation.context import MethodContext, TrainingData
from audiointerp.interpretation.masks import MASK_NAMES, apply_mask, make_masks
from audiointerp.interpretation.registry import (
    build_method,
    get_method,
    method_class,
    method_names,
    register_method,
    resolve_method,
)
from audiointerp.interpretation.sanity import SanityResult, cascading_randomization
from audiointerp.interpretation.shap_method import balanced_background
from audiointerp.interpretation.slice import feature_mean


def __getattr__(name: str) -> Any:
    if name == "METHOD_NAMES":  # current even when methods are registered at run time
        return method_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MASK_NAMES",
    "AttributionMethod",
    "Explanation",
    "MethodContext",
    "Region",
    "SanityResult",
    "TrainingData",
    "apply_mask",
    "balanced_background",
    "build_method",
    "cascading_randomization",
    "feature_mean",
    "forward_batched",
    "get_method",
    "make_masks",
    "method_class",
    "method_names",
    "register_method",
    "resolve_method",
    "resolve_target",
]
