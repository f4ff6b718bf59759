"""Model-parameter randomization test (Adebayo et al. 2018), cascading from the top layer.

A method's maps on the trained model are compared (Spearman rank correlation, per clip) with
its maps on copies whose layers are re-drawn one after another, output side first. A map that
explains the model must change as the model is destroyed: the mean ``|rho|`` over clips
should fall towards 0 along the cascade. Each step's mean comes with a bootstrap confidence
interval over clips, and the verdict is read from the interval after the whole cascade:

- ``pass``: its upper bound is below ``threshold`` (the maps surely changed);
- ``fail``: its lower bound is at or above ``threshold`` (the maps surely did not);
- ``inconclusive``: the interval straddles ``threshold`` (more clips needed).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import AttributionMethod, check_features, resolve_target

# Mean |Spearman rho| over clips, after every layer is randomized, below which the maps are
# judged to have changed. Adebayo et al. read their plots by eye; 0.5 separates the methods
# they call insensitive (rho stays near 1) from those that pass (rho falls towards 0).
PASS_THRESHOLD = 0.5
#: Coverage of the per-step confidence interval of the mean |rho|.
CONFIDENCE = 0.95
#: Bootstrap resamples of the clips for each interval.
N_BOOTSTRAP = 2000
#: Verdicts of :attr:`SanityResult.status`.
STATUSES: tuple[str, ...] = ("pass", "fail", "inconclusive")

AttributeFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SanityResult:
    """Per-layer rank correlations between trained and randomized-model maps.

    Attributes
    ----------
    layers : list of str
        Randomized layers, top first; step ``i`` has layers ``0 .. i`` randomized.
    correlations : np.ndarray, shape (L, B)
        Spearman rho per cascade step and clip.
    mean, low, high : np.ndarray, shape (L,)
        Mean ``|rho|`` over clips per step and its bootstrap ``confidence`` interval.
    status : {"pass", "fail", "inconclusive"}
        The verdict from the interval after the last step (module docstring).
    threshold : float
    confidence : float
    absolute : bool
        Whether ``|A|`` maps were correlated (else the signed maps).
    """

    layers: list[str]
    correlations: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    status: str
    threshold: float
    confidence: float
    absolute: bool

    @property
    def passed(self) -> bool:
        """``status == "pass"``."""
        return self.status == "pass"


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


def spearman_rows(a: torch.Tensor, b: torch.Tensor, absolute: bool) -> np.ndarray:
    """Spearman rho between ``a[i]`` and ``b[i]`` per clip (0 where either map is constant)."""
    x = a.reshape(a.shape[0], -1).double().cpu().numpy()
    y = b.reshape(b.shape[0], -1).double().cpu().numpy()
    if absolute:
        x, y = np.abs(x), np.abs(y)
    out = []
    for u, v in zip(x, y, strict=True):
        rho = spearmanr(u, v).statistic if u.std() > 0 and v.std() > 0 else 0.0
        out.append(float(rho))
    return np.asarray(out)


def mean_interval(
    values: np.ndarray, *, confidence: float = CONFIDENCE, n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile-bootstrap ``confidence`` interval (seeded).

    Returns
    -------
    mean, low, high : float
        ``low == high == mean`` for a single value.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if values.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    boot = values[rng.integers(0, values.size, size=(int(n_boot), values.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return mean, float(low), float(high)


def verdict(low: float, high: float, threshold: float) -> str:
    """``"pass"`` / ``"fail"`` / ``"inconclusive"`` from an interval of the mean ``|rho|``."""
    if high < threshold:
        return "pass"
    if low >= threshold:
        return "fail"
    return "inconclusive"


def cascading_randomization(
    method: AttributionMethod,
    model: nn.Module,
    features: torch.Tensor,
    target: torch.Tensor | int | None = None,
    *,
    layers: list[str] | None = None,
    absolute: bool = True,
    threshold: float = PASS_THRESHOLD,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    attribute: AttributeFn | None = None,
) -> SanityResult:
    """Compare a method's maps on the trained model with maps on progressively randomized copies.

    Parameters
    ----------
    method : AttributionMethod
        e.g. ``get_method("saliency")``.
    model : nn.Module
        Trained classifier in eval mode (not modified).
    features : torch.Tensor, shape (B, 1, F, T)
        The clips; at least 20 for intervals worth reading.
    target : torch.Tensor, int or None
        Class explained throughout; default the trained model's prediction (kept fixed).
    layers : list of str, optional
        Cascade order; default :func:`parametrized_layers` (top first).
    absolute : bool
        Correlate ``|A|`` (Adebayo et al.'s main figure) rather than signed maps.
    threshold : float
        The verdict's bound on the mean ``|rho|`` after the whole cascade.
    confidence : float
        Coverage of the bootstrap intervals over clips.
    seed : int
        Seeds the re-drawn weights, the bootstrap and (by default) the method's draws.
    attribute : callable, optional
        ``attribute(model, features, target) -> maps``; default ``method.attribute`` with the
        method reseeded to ``seed`` before every call, so a stochastic method makes the same
        draws on the trained and the randomized models (noise alone must not pass it). The
        grid passes the explain-and-score core's per-clip seeding instead.

    Returns
    -------
    SanityResult

    Notes
    -----
    Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018 (cascading randomization,
    Spearman rank correlation of absolute maps).
    """
    check_features(features)
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence!r}")
    if attribute is None:

        def attribute(m: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            method.reseed(seed)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return method.attribute(m, x, t)

    target = resolve_target(model, features, target, batch_size=method.batch_size)
    reference = attribute(model, features, target)
    layers = parametrized_layers(model) if layers is None else list(layers)
    if not layers:
        raise ParameterError(f"{type(model).__name__} has no layer with parameters to randomize")
    randomized = copy.deepcopy(model).eval()
    gen = torch.Generator().manual_seed(seed)
    rows, stats = [], []
    for step, name in enumerate(layers):
        randomize_layer(randomized.get_submodule(name), gen)
        maps = attribute(randomized, features, target)
        rows.append(spearman_rows(reference, maps, absolute))
        stats.append(mean_interval(np.abs(rows[-1]), confidence=confidence, seed=seed + step))
    mean, low, high = (np.asarray(v) for v in zip(*stats, strict=True))
    return SanityResult(
        layers=layers,
        correlations=np.stack(rows),
        mean=mean,
        low=low,
        high=high,
        status=verdict(float(low[-1]), float(high[-1]), threshold),
        threshold=float(threshold),
        confidence=float(confidence),
        absolute=bool(absolute),
    )
