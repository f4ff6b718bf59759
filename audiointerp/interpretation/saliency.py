"""Saliency: the gradient of the target logit with respect to the input features."""

from __future__ import annotations

import torch
from captum.attr import Saliency as _CaptumSaliency
from torch import nn

from audiointerp.interpretation.base import AttributionMethod, iter_chunks


class Saliency(AttributionMethod):
    """Input gradient of the target class logit, signed (default) or its magnitude.

    Parameters
    ----------
    abs : bool
        Return ``|dy/dx|`` (captum's default, Simonyan et al.'s map) instead of the signed
        gradient. Min-max of a signed map ranks strong negative evidence as "not the target";
        the magnitude ranks it as important.
    batch_size : int
        Clips per backward pass.

    Notes
    -----
    Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks", ICLR workshop 2014.
    The reproduced paper keeps the sign (captum's ``abs=False``), the default here.
    """

    name = "saliency"

    def __init__(self, *, abs: bool = False, batch_size: int = 16) -> None:  # noqa: A002  (captum)
        super().__init__(batch_size=batch_size)
        self.abs = bool(abs)

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        explainer = _CaptumSaliency(model)
        return torch.cat(
            [
                explainer.attribute(features[s].requires_grad_(), target=target[s], abs=self.abs)
                for s in iter_chunks(features.shape[0], self.batch_size)
            ]
        )
