"""Model-parameter randomization test (Adebayo et al. 2018), cascading from the top layer."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from audiointerp.interpretation.base import AttributionMethod, check_features, resolve_target

# Median |Spearman rho| over clips, after every layer is randomized, below which the maps are
# judged to have changed. Adebayo et al. read their plots by eye; 0.5 separates the methods
# they call insensitive (rho stays near 1) from those that pass (rho falls towards 0).
PASS_THRESHOLD = 0.5


@dataclass(frozen=True)
class SanityResult:
    """Per-layer rank correlations between trained and randomized-model maps.

    Attributes
    ----------
    layers : list of str
        Randomized layers, top first; step ``i`` has layers ``0 .. i`` randomized.
    correlations : np.ndarray, shape (L, B)
        Spearman rho per cascade step and clip.
    passed : bool
        Whether the median |rho| at the last step is below ``threshold``.
    threshold : float
    """

    layers: list[str]
    correlations: np.ndarray
    passed: bool
    threshold: float


def parametrized_layers(model: nn.Module) -> list[str]:
    """Names of the leaf modules that own parameters, top (output side) first.

    Order is registration order reversed, which is the forward order reversed for models that
    register their layers in the order they use them (all of this package's models).
    """
    names = [
        name
        for name, m in model.named_modules()
        if name and not list(m.children()) and any(True for _ in m.parameters(recurse=False))
    ]
    return names[::-1]


def randomize_layer(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw a layer's parameters: normal with the layer's own parameter std (BN: N(1, 0.1))."""
    with torch.no_grad():
        for name, p in module.named_parameters(recurse=False):
            std = float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 0.1
            center = (
                1.0
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and name == "weight"
                else 0.0
            )
            noise = torch.randn(p.shape, generator=generator).to(p)
            p.copy_(center + std * noise)


def _spearman_rows(a: torch.Tensor, b: torch.Tensor, absolute: bool) -> np.ndarray:
    x = a.reshape(a.shape[0], -1).double().cpu().numpy()
    y = b.reshape(b.shape[0], -1).double().cpu().numpy()
    if absolute:
        x, y = np.abs(x), np.abs(y)
    out = []
    for u, v in zip(x, y, strict=True):
        rho = spearmanr(u, v).statistic if u.std() > 0 and v.std() > 0 else 0.0
        out.append(float(rho))
    return np.asarray(out)


def cascading_randomization(
    method: AttributionMethod,
    model: nn.Module,
    features: torch.Tensor,
    target: torch.Tensor | int | None = None,
    *,
    layers: list[str] | None = None,
    absolute: bool = True,
    threshold: float = PASS_THRESHOLD,
    seed: int = 0,
) -> SanityResult:
    """Compare a method's maps on the trained model with maps on progressively randomized copies.

    Parameters
    ----------
    method : AttributionMethod
        e.g. ``get_method("saliency")``.
    model : nn.Module
        Trained classifier in eval mode (not modified).
    features : torch.Tensor, shape (B, 1, F, T)
    target : torch.Tensor, int or None
        Class explained throughout; default the trained model's prediction (kept fixed).
    layers : list of str, optional
        Cascade order; default :func:`parametrized_layers` (top first).
    absolute : bool
        Correlate ``|A|`` (Adebayo et al.'s main figure) rather than signed maps.
    threshold : float
        Pass when the median ``|rho|`` after the whole cascade is below it.
    seed : int

    Returns
    -------
    SanityResult

    Notes
    -----
    Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018.
    """
    check_features(features)
    target = resolve_target(model, features, target, batch_size=method.batch_size)
    reference = method.attribute(model, features, target)
    layers = parametrized_layers(model) if layers is None else list(layers)
    randomized = copy.deepcopy(model).eval()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for name in layers:
        randomize_layer(randomized.get_submodule(name), gen)
        maps = method.attribute(randomized, features, target)
        rows.append(_spearman_rows(reference, maps, absolute))
    corr = np.stack(rows) if rows else np.zeros((0, features.shape[0]))
    passed = bool(len(rows) and np.median(np.abs(corr[-1])) < threshold)
    return SanityResult(layers=layers, correlations=corr, passed=passed, threshold=threshold)
