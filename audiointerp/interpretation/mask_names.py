"""The masks' names, in the paper's order (:mod:`.masks` builds them).

Kept apart from :mod:`.masks` so that results can be read and ordered without torch.
"""

from __future__ import annotations

#: The paper's 14 masks (:func:`~.masks.make_masks`), in the paper's order.
MASK_NAMES: tuple[str, ...] = (
    "minmax",
    "sigmoid",
    "bin",
    "topK_5",
    "topK_30",
    "topK_50",
    "minmax_pos",
    "sigmoid_pos",
    "pos_thresh_25",
    "pos_thresh_50",
    "pos_thresh_75",
    "topK_5_pos",
    "topK_30_pos",
    "topK_50_pos",
)

#: The reproduced study's rule for ``topK_k_pos`` (see :mod:`.masks`), selectable by name
#: (``masks: [..., topK_50_pos_study]``) beside the 14; the paper configs use them.
STUDY_MASK_NAMES: tuple[str, ...] = ("topK_5_pos_study", "topK_30_pos_study", "topK_50_pos_study")

#: Every name :func:`~.masks.make_mask` accepts (the 14, then the study's rules).
ALL_MASK_NAMES: tuple[str, ...] = (*MASK_NAMES, *STUDY_MASK_NAMES)

#: Name of a method's own [0, 1] mask (learned interpreters, AMT), scored beside the 14.
NATIVE_MASK = "native"
