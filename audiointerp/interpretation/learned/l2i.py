"""L2I (Listen to Interpret): NMF component activations predicted from the hidden maps.

An interpreter ``Psi`` reads the classifier's hidden maps and predicts non-negative time
activations ``H`` ``(K, T)`` of a fixed NMF dictionary ``W`` (learned on the training clips'
compressed magnitudes, :mod:`.nmf`); a surrogate classifier ``theta`` (gated-attention pooling
over time, then a linear layer without bias) mimics the classifier from ``H`` alone. Loss::

    L = lambda_rec * MSE(W H, V) + lambda_fid * CE(theta(H), softmax(f(x))) + lambda_spa * mean|H|

The relevance of component ``j`` for class ``c`` is ``r_j = z_j * theta_w[c, j]`` (``z`` the
pooled activations), normalised by its maximum; the ``top_k`` components above the threshold
make the interpretation, the ratio mask ``W_L H_L / (W H)`` (the input phase is kept when it is
made audible, as in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from audiointerp.interpretation.base import Explanation
from audiointerp.interpretation.learned.base import FitBatch, LearnedMethod
from audiointerp.interpretation.learned.decoder import HiddenDecoder, HiddenSpec, pick_layers
from audiointerp.interpretation.learned.nmf import (
    DictionaryConfig,
    DictionaryInterpreter,
    component_masks,
    normalised,
    select,
)
from audiointerp.validation import check_positive


@dataclass
class L2iConfig(DictionaryConfig):
    """The ``interpreter`` section of ``configs/interpreters/l2i.yaml``.

    Attributes
    ----------
    layers : int or None
        Deepest hidden maps read (``None``: all).
    width : int
        Channels of the interpreter's trunk.
    attention_width : int
        Hidden width of the surrogate's gated attention (L2I: 256 for K = 100).
    dropout : float
        Dropout on ``H`` before the surrogate (L2I: 0.4).
    lambda_rec, lambda_fid, lambda_spa : float
        Loss weights (L2I on ESC-50: 5, 1 from epoch 20, 0.4).
    relevance_threshold : float
        ``RTH`` (0.2 for L2I's interpretations).
    top_k : int
        Most components kept (5).
    """

    layers: int | None = None
    width: int = 32
    attention_width: int = 64
    dropout: float = 0.4
    lambda_rec: float = 5.0
    lambda_fid: float = 1.0
    lambda_spa: float = 0.4
    relevance_threshold: float = 0.2
    top_k: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("width", "attention_width", "top_k"):
            check_positive(f"interpreter.{name}", getattr(self, name))
        for name in ("lambda_rec", "lambda_fid", "lambda_spa", "relevance_threshold"):
            check_positive(f"interpreter.{name}", getattr(self, name), allow_zero=True)


class GatedAttentionPool(nn.Module):
    """``z = sum_t a_t h_t`` with ``a = softmax_t(w . tanh(V h_t) * relu(U h_t))`` (L2I's theta).

    Notes
    -----
    Ilse, Tomczak, Welling, "Attention-based deep multiple instance learning", ICML 2018, with
    the ReLU gate of L2I's ``explainer_v4``.
    """

    def __init__(self, n_components: int, width: int) -> None:
        super().__init__()
        self.v = nn.Linear(n_components, width)
        self.u = nn.Linear(n_components, width)
        self.w = nn.Linear(width, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        ht = h.transpose(1, 2)  # (B, T, K)
        score = self.w(torch.tanh(self.v(ht)) * torch.relu(self.u(ht)))  # (B, T, 1)
        return (score.softmax(dim=1) * ht).sum(dim=1)  # (B, K)


class L2iInterpreter(DictionaryInterpreter):
    """``Psi`` (hidden maps -> activations), ``theta`` (surrogate), and the dictionary ``W``.

    Notes
    -----
    Parekh, Parekh, Mozharovskyi, d'Alché-Buc, Richard, "Listen to Interpret: Post-hoc
    Interpretability for Audio Networks with NMF", NeurIPS 2022.
    """

    Config: ClassVar[type] = L2iConfig

    def __init__(self, config: L2iConfig, spec: HiddenSpec, num_classes: int, **grid: Any):
        super().__init__(config, spec, num_classes, **grid)
        k = config.n_components
        levels = pick_layers(spec, config.layers)
        self.trunk = HiddenDecoder(
            spec, levels=levels, skips=levels, width=config.width, out_channels=None
        )
        self.psi_head = nn.Sequential(
            nn.Conv1d(config.width, k, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(k, k, 5, padding=2),
            nn.ReLU(),
        )
        self.pool = GatedAttentionPool(k, config.attention_width)
        self.theta = nn.Linear(k, num_classes, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def activations(self, model: nn.Module, features: torch.Tensor) -> torch.Tensor:
        """Predicted activations ``H`` ``(B, K, T)`` on the clip's frames."""
        h = self.trunk.trunk(model.hidden(features)).mean(dim=2)  # (B, width, T_1)
        h = F.interpolate(h, size=features.shape[-1], mode="linear", align_corners=False)
        return self.psi_head(h)

    def surrogate(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled activations ``z`` ``(B, K)`` and the surrogate's logits ``(B, C)``."""
        z = self.pool(self.dropout(h))
        return z, self.theta(z)

    def loss(
        self, model: nn.Module, frontend: Any, batch: FitBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        with torch.no_grad():
            v = self.compressed(batch.features)[:, 0]  # (B, F, T)
            p = batch.logits.softmax(-1)
        h = self.activations(model, batch.features)
        rec = F.mse_loss(self.dictionary @ h, v)
        _, logits = self.surrogate(h)
        fid = -(p * logits.log_softmax(-1)).sum(-1).mean()
        spa = h.abs().mean()
        loss = cfg.lambda_rec * rec + cfg.lambda_fid * fid + cfg.lambda_spa * spa
        agree = (logits.argmax(-1) == batch.target).float().mean()
        logs = {"rec": float(rec.detach()), "fid": float(fid.detach()), "agree": float(agree)}
        return loss, logs

    def relevance(self, h: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Normalised relevance ``(B, K)`` of each component for class ``target``."""
        z, _ = self.surrogate(h)
        return normalised(z * self.theta.weight[target])

    def explain(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor, **_: Any
    ) -> Explanation:
        cfg = self.config
        h = self.activations(model, features)
        r = self.relevance(h, target)
        ratios = component_masks(self.dictionary, h)  # (B, K, F, T)
        keep = select(r, threshold=cfg.relevance_threshold, top_k=cfg.top_k)
        native = (ratios * keep[:, :, None, None]).sum(1, keepdim=True)
        attributions = (ratios * r[:, :, None, None]).sum(1, keepdim=True)
        return Explanation(attributions, native_mask=native)


class L2i(LearnedMethod):
    """L2I: the relevant NMF components of the clip, as predicted from the hidden maps.

    The native mask is the relevant components' ratio mask; the map (input of the 14 threshold
    masks) weights every component's ratio mask by its relevance. One explanation costs one
    pass through the classifier's blocks plus the interpreter.

    Notes
    -----
    Parekh et al., "Listen to Interpret", NeurIPS 2022; relevance threshold and top-5 as in the
    speechbrain ESC-50 recipe (``train_l2i.py``).
    """

    name = "l2i"
    interpreter_cls = L2iInterpreter
