"""Post-hoc attribution methods on spectrogram features, the paper's masks and sanity checks.

Every method answers ``attribute(model, features (B, 1, F, T), target=None) -> (B, 1, F, T)``
signed attributions; build one by name with :func:`get_method`:

>>> method = get_method("lime", n_samples=1000, batch_size=16)  # doctest: +SKIP
>>> A = method.attribute(model, features)                        # doctest: +SKIP
>>> masks = make_masks(A)                                        # doctest: +SKIP

Methods: "saliency", "gradcam", "lime", "shap", "slice" (most important time-frequency
rectangle by occlusion), "ig" (Integrated Gradients).
"""

from audiointerp.interpretation.base import (
    METHOD_NAMES,
    AttributionMethod,
    forward_batched,
    get_method,
    resolve_target,
)
from audiointerp.interpretation.masks import (
    MASK_NAMES,
    UniqueMasks,
    apply_mask,
    make_masks,
    mask_digests,
    unique_masks,
)
from audiointerp.interpretation.sanity import SanityResult, cascading_randomization
from audiointerp.interpretation.shap_method import balanced_background
from audiointerp.interpretation.slice import SliceResult, feature_mean

__all__ = [
    "METHOD_NAMES",
    "MASK_NAMES",
    "AttributionMethod",
    "SanityResult",
    "SliceResult",
    "UniqueMasks",
    "apply_mask",
    "balanced_background",
    "cascading_randomization",
    "feature_mean",
    "forward_batched",
    "get_method",
    "make_masks",
    "mask_digests",
    "resolve_target",
    "unique_masks",
]
