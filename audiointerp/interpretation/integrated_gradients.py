"""Integrated Gradients from the silence floor to the input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from captum.attr import IntegratedGradients as _CaptumIG
from torch import nn

from audiointerp.interpretation.base import SILENCE_FLOOR_DB, AttributionMethod
from audiointerp.validation import check_positive

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext


class IntegratedGradients(AttributionMethod):
    """Path integral of the target logit's gradient along the straight line from ``base``.

    Parameters
    ----------
    base : float
        Baseline feature value: the silence floor in dB (``Frontend.floor_db``).
    n_steps : int
        Points of the Gauss-Legendre quadrature along the path.
    abs : bool
        Return the magnitude of the attributions (evidence either way counts as important).
    batch_size : int
        Inputs per forward/backward pass (path points of several clips share a pass).

    Notes
    -----
    Sundararajan, Taly & Yan, "Axiomatic attribution for deep networks", ICML 2017. The
    attributions sum to ``logit(x) - logit(base)`` up to the quadrature error (completeness).
    """

    name = "ig"
    in_default_set = False  # not one of the paper's methods, and 50 evaluations per clip

    @classmethod
    def from_config(
        cls, options: Mapping[str, Any], context: MethodContext | None = None
    ) -> IntegratedGradients:
        """Removed bins go to the model's silence floor unless ``base`` is given."""
        options = dict(options)
        if context is not None:
            options.setdefault("base", context.floor_db)
        return cls(**options)

    def __init__(
        self,
        *,
        base: float = SILENCE_FLOOR_DB,
        n_steps: int = 50,
        abs: bool = False,  # noqa: A002  (captum's name for the option)
        batch_size: int = 16,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.base = float(base)
        self.n_steps = int(check_positive("n_steps", n_steps))
        self.abs = bool(abs)

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        out = _CaptumIG(model).attribute(
            features,
            baselines=self.base,
            target=target,
            n_steps=self.n_steps,
            internal_batch_size=self.batch_size,
        )
        return out.abs() if self.abs else out
