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
time-frequency rectangle by occlusion), "ig" (Integrated Gradients), for transformers "amt",
"rollout" and "grad_attention" (attention-based, :mod:`.attention`), and the reference
"methods" every table reads them against: "random" (a seeded random map), "energy" (the input's
level above the floor) and "oracle" (the ideal mask from the stems; benchmark data only).
"""

from typing import Any

# Every name is imported on first use (as :mod:`.registry` imports each method's module): the
# tables read method and mask names without torch, captum or shap.
_LAZY = {
    "AttributionMethod": "base",
    "Explanation": "base",
    "Region": "base",
    "forward_batched": "base",
    "resolve_target": "base",
    "MethodContext": "context",
    "TrainingData": "context",
    "MASK_NAMES": "mask_names",
    "apply_mask": "masks",
    "make_masks": "masks",
    "build_method": "registry",
    "get_method": "registry",
    "method_class": "registry",
    "method_names": "registry",
    "register_method": "registry",
    "resolve_method": "registry",
    "SanityResult": "sanity",
    "cascading_randomization": "sanity",
    "balanced_background": "shap_method",
    "feature_mean": "slice",
}


def __getattr__(name: str) -> Any:
    if name == "METHOD_NAMES":  # current even when methods are registered at run time
        from audiointerp.interpretation.registry import method_names

        return method_names()
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"audiointerp.interpretation.{_LAZY[name]}")
        return getattr(module, name)
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
