"""Reference "methods" every interpretation is read against: chance, the input, the ideal.

They go through the same grid, masks, metrics and tables as the real methods, so a table can
say whether a method beats what needs no model at all:

- ``random``: a seeded random map (chance level: localization AUC 0.5 on average);
- ``energy``: the input's own level above the silence floor (what a spectrogram shows before
  any model is asked: loud bins are "important");
- ``oracle``: the clip's ideal mask from its stems (benchmark data only): the best any map can
  localize, and, as masked-in input, how the classifier treats a perfect explanation.

Each class declares its :attr:`~audiointerp.interpretation.base.AttributionMethod.reference`
kind, so tables mark baselines without knowing method names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import (
    SILENCE_FLOOR_DB,
    AttributionMethod,
    Explanation,
)

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext


def full_grid(n_bins: int, n_frames: int) -> tuple[int, int]:
    """A map that can change at every bin and frame."""
    return int(n_bins), int(n_frames)


class RandomMap(AttributionMethod):
    """A seeded standard-normal map, independent of the model and of the clip's content.

    Signed, so its masks behave like those of a signed method (``bin`` keeps about half the
    bins, ``minmax_pos`` the positive half).

    Parameters
    ----------
    seed : int
        Seed of the draw; the explain-and-score core reseeds it per clip from
        ``(run seed, method, clip id)``, so each clip gets its own map whatever its batch.
    batch_size : int
        Unused (no model evaluations); kept for the common protocol.

    Notes
    -----
    The chance baseline of localization metrics and of the model-randomization test: a map
    that does not depend on the model must fail the latter (Adebayo et al., "Sanity checks
    for saliency maps", NeurIPS 2018).
    """

    name = "random"
    stochastic = True
    in_default_set = False
    reference = "chance"

    def __init__(self, *, seed: int = 0, batch_size: int = 16) -> None:
        super().__init__(batch_size=batch_size)
        self.seed = int(seed)

    def resolution(self, model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int]:
        return full_grid(n_bins, n_frames)

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed)  # CPU draw: identical on every device
        noise = torch.randn(features.shape, generator=gen, dtype=torch.float32)
        return noise.to(features.device)


class EnergyMap(AttributionMethod):
    """The input's level above the silence floor, ``features - base`` (non-negative dB).

    Parameters
    ----------
    base : float
        The silence floor in dB (:meth:`from_config` takes the frontend's).
    batch_size : int
        Unused (no model evaluations).

    Notes
    -----
    Its ``minmax`` mask is the min-max scaled dB spectrogram: on the synthetic benchmark it
    localizes the target better than the gradient maps of a small CNN, which is why every
    table shows it. Like an edge detector in Adebayo et al. (2018), it ignores the model and
    must fail the model-randomization test.
    """

    name = "energy"
    in_default_set = False
    reference = "input"

    @classmethod
    def from_config(
        cls, options: Mapping[str, Any], context: MethodContext | None = None
    ) -> EnergyMap:
        """The level is measured from the model's silence floor unless ``base`` is given."""
        options = dict(options)
        if context is not None:
            options.setdefault("base", context.floor_db)
        return cls(**options)

    def __init__(self, *, base: float = SILENCE_FLOOR_DB, batch_size: int = 16) -> None:
        super().__init__(batch_size=batch_size)
        self.base = float(base)

    def resolution(self, model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int]:
        return full_grid(n_bins, n_frames)

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        return (features - self.base).clamp_min(0.0)


class OracleMap(AttributionMethod):
    """The clip's ideal mask from its stems (:func:`audiointerp.processing.ideal_mask`).

    The map is the binary mask itself, and it is also scored as the method's ``native`` mask,
    so the ``oracle``/``native`` rows are the ideal mask's fidelity (FidIn: how often the
    classifier keeps its prediction when shown only where the target is).

    Parameters
    ----------
    batch_size : int
        Unused (no model evaluations).

    Notes
    -----
    Needs ground truth: the grid leaves it out, with a manifest note, on data without stems.
    The ideal binary mask follows Wang, "On ideal binary mask as the computational goal of
    auditory scene analysis", 2005.
    """

    name = "oracle"
    needs_ground_truth = True
    gives_native_mask = True
    in_default_set = False
    reference = "ideal"

    def resolution(self, model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int]:
        return full_grid(n_bins, n_frames)

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
        *,
        ground_truth: torch.Tensor | None = None,
    ) -> Explanation:
        """Return the ideal mask ``ground_truth`` ``(B, 1, F, T)`` as map and native mask."""
        features, _ = self._prepare(model, features, target)
        if ground_truth is None:
            raise ParameterError(
                "method 'oracle' needs ground_truth= (the clips' ideal masks), which only data "
                "with stems has (the synthetic benchmark); leave it out on other data"
            )
        if tuple(ground_truth.shape) != tuple(features.shape):
            raise ParameterError(
                f"ground_truth has shape {tuple(ground_truth.shape)} but features have "
                f"{tuple(features.shape)}; build it with the same frontend (ideal_mask)"
            )
        ideal = ground_truth.detach().to(features.device, torch.float32).clamp(0.0, 1.0)
        return Explanation(ideal.clone(), native_mask=ideal.clone())
