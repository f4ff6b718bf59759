"""An NMF dictionary of spectral templates, and the NMF component-removal baseline.

The dictionary ``W`` ``(F, K)`` is learned once per classifier on the compressed magnitudes
``V = log1p(|X| / ref)`` (:func:`~audiointerp.interpretation.learned.masking.compressed`) of
its training clips, on its own feature grid, with scikit-learn's NMF (coordinate descent on
the Frobenius loss, NNDSVDa start: deterministic for a seed and fast on tens of thousands of
frames; L2I's own solver is not published). A clip's activations ``H`` ``(K, T)`` for that
fixed dictionary come from batched non-negative least squares in torch
(:func:`audiointerp.processing.mel.nnls`), so explaining needs no scikit-learn call.

Component ``j`` of a clip is the ratio mask ``w_j h_j / (W H)`` (the share of the
reconstruction it explains, in [0, 1]); L2I uses the same masks for its interpretation.

The baseline (no network, Parekh et al.'s faithfulness protocol turned into an explanation)
removes each component in turn (masked-out with the core's rule), scores it by the drop of the
explained class's probability, and keeps the relevant ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from audiointerp.interpretation.base import DEFAULT_BATCH_SIZE, Explanation
from audiointerp.interpretation.learned.base import Interpreter, LearnedMethod
from audiointerp.interpretation.learned.decoder import HiddenSpec
from audiointerp.interpretation.learned.masking import compressed
from audiointerp.interpretation.masks import apply_mask
from audiointerp.processing.mel import nnls, pseudo_inverse
from audiointerp.validation import check_choice, check_positive

BetaLoss = Literal["frobenius", "kullback-leibler"]
_EPS = 1e-6


@dataclass
class DictionaryConfig:
    """The NMF dictionary's options (shared by the NMF baseline and L2I).

    Attributes
    ----------
    n_components : int
        Spectral templates ``K``.
    beta_loss : {"frobenius", "kullback-leibler"}
        NMF loss (Frobenius with the coordinate-descent solver, KL with multiplicative updates).
    max_iter : int
        Solver iterations.
    max_frames : int
        Training frames the dictionary is learned on (evenly spaced subset of all of them).
    activation_iter : int
        Projected-gradient steps of a clip's activations for the fixed dictionary.
    """

    n_components: int = 32
    beta_loss: BetaLoss = "frobenius"
    max_iter: int = 300
    max_frames: int = 30000
    activation_iter: int = 100

    def __post_init__(self) -> None:
        for name in ("n_components", "max_iter", "max_frames"):
            check_positive(f"interpreter.{name}", getattr(self, name))
        check_positive("interpreter.activation_iter", self.activation_iter, allow_zero=True)
        check_choice("interpreter.beta_loss", self.beta_loss, ("frobenius", "kullback-leibler"))


@dataclass
class NmfConfig(DictionaryConfig):
    """The NMF baseline: dictionary options plus the relevance rule.

    Attributes
    ----------
    relevance_threshold : float
        Keep components whose probability drop is at least this share of the largest (0.3, as
        in L2I's faithfulness evaluation on ESC-50).
    top_k : int
        At most this many components.
    """

    relevance_threshold: float = 0.3
    top_k: int = 5


def learn_dictionary(v: torch.Tensor, cfg: DictionaryConfig, *, seed: int = 0) -> torch.Tensor:
    """Spectral templates ``(F, K)`` (unit-norm columns) of non-negative maps ``v`` ``(N, 1, F, T)``."""
    from sklearn.decomposition import NMF

    frames = v[:, 0].permute(0, 2, 1).reshape(-1, v.shape[2]).double().cpu().numpy()
    if len(frames) > cfg.max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, cfg.max_frames).round().astype(int)]
    nmf = NMF(
        n_components=cfg.n_components,
        init="nndsvda",
        solver="cd" if cfg.beta_loss == "frobenius" else "mu",
        beta_loss=cfg.beta_loss,
        max_iter=cfg.max_iter,
        random_state=seed,
    )
    nmf.fit(frames)
    w = torch.as_tensor(nmf.components_.T.copy(), dtype=torch.float32)  # (F, K)
    return w / w.norm(dim=0, keepdim=True).clamp_min(1e-12)


def activations(w: torch.Tensor, v: torch.Tensor, *, n_iter: int = 100) -> torch.Tensor:
    """Non-negative activations ``(B, K, T)`` with ``w @ h ~ v[:, 0]`` for fixed ``w`` ``(F, K)``."""
    pinv, lipschitz = pseudo_inverse(w.detach().cpu().double().numpy())
    pinv = torch.as_tensor(pinv, dtype=v.dtype, device=v.device)
    return nnls(w.to(v), v[:, 0], n_iter=n_iter, pinv=pinv, lipschitz=lipschitz)


def component_masks(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Ratio mask of each component, ``(B, K, F, T)`` in [0, 1], summing to <= 1 over ``K``."""
    parts = w[None, :, :, None] * h[:, None, :, :]  # (B, F, K, T)
    total = parts.sum(dim=2, keepdim=True)
    return (parts / (total + _EPS)).permute(0, 2, 1, 3)


def select(relevance: torch.Tensor, *, threshold: float, top_k: int) -> torch.Tensor:
    """Boolean ``(B, K)``: the ``top_k`` most relevant components above ``threshold``."""
    k = min(int(top_k), relevance.shape[1])
    top = relevance.topk(k, dim=1).indices
    chosen = torch.zeros_like(relevance, dtype=torch.bool).scatter_(1, top, True)
    return chosen & (relevance > threshold)


def normalised(relevance: torch.Tensor) -> torch.Tensor:
    """``r / max r`` per clip (0 where no component is relevant)."""
    top = relevance.amax(dim=1, keepdim=True)
    return torch.where(top > 0, relevance / top.clamp_min(1e-12), torch.zeros_like(relevance))


class DictionaryInterpreter(Interpreter):
    """Base of the interpreters with an NMF dictionary (buffers ``dictionary``, ``ref_db``)."""

    def __init__(
        self, config: DictionaryConfig, spec: HiddenSpec, num_classes: int, **grid: Any
    ) -> None:
        super().__init__(config, spec, num_classes, **grid)
        self.register_buffer("dictionary", torch.zeros(self.n_bins, config.n_components))
        self.register_buffer("ref_db", torch.zeros(()))

    def prepare(self, model: nn.Module, frontend: Any, features: torch.Tensor) -> None:
        self.ref_db.fill_(float(features.median()))
        v = compressed(features, self.ref_db)
        seed = int(torch.initial_seed()) % (2**31)
        self.dictionary.copy_(learn_dictionary(v, self.config, seed=seed))

    def compressed(self, features: torch.Tensor) -> torch.Tensor:
        return compressed(features, self.ref_db)


class NmfInterpreter(DictionaryInterpreter):
    """The NMF baseline's fitted part: the dictionary (no network)."""

    Config: ClassVar[type] = NmfConfig
    trainable: ClassVar[bool] = False

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Explanation:
        cfg = self.config
        base = self.floor_db
        h = activations(self.dictionary, self.compressed(features), n_iter=cfg.activation_iter)
        ratios = component_masks(self.dictionary, h)  # (B, K, F, T)
        b, k = ratios.shape[:2]
        rows = torch.arange(b, device=features.device)
        p = model(features).softmax(-1)[rows, target]
        removed = apply_mask(
            features.repeat_interleave(k, 0),
            1.0 - ratios.reshape(b * k, 1, *ratios.shape[2:]),
            base,
        )
        probs = torch.cat(
            [model(removed[s : s + batch_size]).softmax(-1) for s in range(0, b * k, batch_size)]
        )
        drop = p[:, None] - probs[torch.arange(b * k), target.repeat_interleave(k)].reshape(b, k)
        keep = select(normalised(drop), threshold=cfg.relevance_threshold, top_k=cfg.top_k)
        native = (ratios * keep[:, :, None, None]).sum(1, keepdim=True)
        attributions = (ratios * drop[:, :, None, None]).sum(1, keepdim=True)
        return Explanation(attributions, native_mask=native)


class NmfBaseline(LearnedMethod):
    """Remove each NMF component of the clip; keep those whose removal drops the class most.

    Costs ``K + 1`` classifier forward passes per clip (one per component, batched by
    ``batch_size``), against one for L-MAC; the map (input of the 14 threshold masks) weights
    each component's ratio mask by its probability drop.

    Notes
    -----
    Parekh et al., "Listen to Interpret: Post-hoc Interpretability for Audio Networks with
    NMF", NeurIPS 2022 (the component-removal faithfulness test, here as an explanation);
    Lee & Seung, "Learning the parts of objects by non-negative matrix factorization",
    Nature 1999.
    """

    name = "nmf"
    interpreter_cls = NmfInterpreter
    requires: ClassVar[frozenset[str]] = frozenset()
