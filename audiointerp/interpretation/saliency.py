"""Saliency: the signed gradient of the target logit with respect to the input features."""

from __future__ import annotations

import torch
from captum.attr import Saliency as _CaptumSaliency
from torch import nn

from audiointerp.interpretation.base import AttributionMethod, iter_chunks


class Saliency(AttributionMethod):
    """Signed input gradient of the target class logit.

    Parameters
    ----------
    batch_size : int
        Clips per backward pass.

    Notes
    -----
    Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks", ICLR workshop 2014.
    As in the reproduced paper, the gradient keeps its sign (captum's ``abs=False``).
    """

    name = "saliency"

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        explainer = _CaptumSaliency(model)
        return torch.cat(
            [
                explainer.attribute(features[s].requires_grad_(), target=target[s], abs=False)
                for s in iter_chunks(features.shape[0], self.batch_size)
            ]
        )
