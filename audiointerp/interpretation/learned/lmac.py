"""L-MAC (Listenable Maps for Audio Classifiers) and its fine-tuned variant L-MAC FT.

A decoder reads the frozen classifier's hidden maps and outputs a sigmoid mask ``M`` on the
classifier's feature grid; it is trained so that the masked-in input keeps the classifier's
decision and the masked-out input loses it, with a sparsity penalty::

    L = lambda_in * CE(f(x_in), y_hat) - lambda_out * CE(f(x_out), y_hat)
        + lambda_l1 * B * mean|M| + lambda_tv * TV(M)

(``y_hat`` the classifier's own prediction, ``B`` the batch size: the recipe's L1 term is a
mean over the whole batch summed over its clips). L-MAC FT starts from a fitted L-MAC and
adds, for the clips whose masked spectrogram already resembles the clean target (cosine
similarity of their compressed magnitudes at least ``crosscor_threshold``), a guidance term
``guidance_weight * BCE(M, ideal)`` toward the ideal mask of the clean target stem (and drops
their L1 term); the benchmark's stems make that target real here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import Explanation
from audiointerp.interpretation.learned.base import FitBatch, Interpreter, LearnedMethod
from audiointerp.interpretation.learned.decoder import HiddenDecoder, HiddenSpec, pick_layers
from audiointerp.interpretation.learned.masking import (
    MASKINGS,
    Masking,
    compressed,
    masked_pair,
)
from audiointerp.validation import check_choice, check_positive


@dataclass
class LmacConfig:
    """The ``interpreter`` section of ``configs/interpreters/lmac.yaml``.

    Attributes
    ----------
    layers : int or None
        How many of the deepest hidden maps the decoder reads (``None``: all).
    width, head_width : int
        Decoder channels, and channels of its full-resolution stage.
    masking : {"features", "linear"}
        Masking rule of the loss (:mod:`~audiointerp.interpretation.learned.masking`):
        the core's rule on the dB features (what the mask is scored by) or the paper's
        multiplication of linear STFT magnitudes.
    lambda_in, lambda_out, lambda_l1, lambda_tv : float
        Loss weights (the speechbrain recipe: 4, 0.2, 0.4, 0).
    l1_batch_scaling : bool
        Multiply the L1 weight by the batch size, as the recipe's loss does.
    max_ce_out : float or None
        Cap of the masked-out cross-entropy in the loss (``None``: ``log C``, chance level).
        The recipe's ``-lambda_out * CE(f(x_out))`` is unbounded below: without a cap the
        decoder is rewarded without end for masked-out inputs the classifier calls another
        class with ever more confidence, and training diverges; past chance level the term
        has done its job.
    guidance_weight : float
        L-MAC FT's guidance weight ``g_w`` (0 = plain L-MAC).
    crosscor_threshold : float
        L-MAC FT: cosine similarity above which a clip is guided.
    target_area : float or None
        If set, add ``lambda_area * (mean(M) - target_area)^2`` per clip: a budget on the kept
        share of the grid (the area constraint of extremal perturbations, Fong et al. 2019),
        which keeps the decoder from the two trivial masks (all kept, all removed).
    lambda_area : float
        Weight of the area term.
    binarize : bool
        Train through a binarised mask (``M > 0.5`` forward, the sigmoid's gradient backward:
        a straight-through estimator) and give that binary mask as the native mask. The core's
        rule moves a soft value's bin part of the way to the floor in dB (``M = 0.5`` puts a
        -15 dB bin at -57 dB), levels a classifier never saw, so soft masks lose its decision
        and a sigmoid-mask L-MAC learns to keep everything (``M -> 1``); binary masks keep or
        remove bins, as every threshold mask of the 14 does.
    init_mask : float or None
        Mask value the untrained decoder starts from (its output bias); ``None`` keeps
        PyTorch's default (about 0.5). Starting near 1 (keep everything) lets the L1 term carve
        the mask out of an input the classifier still recognises, which a short schedule needs.
    """

    layers: int | None = None
    width: int = 32
    head_width: int = 8
    masking: Masking = "features"
    lambda_in: float = 4.0
    lambda_out: float = 0.2
    lambda_l1: float = 0.4
    l1_batch_scaling: bool = True
    max_ce_out: float | None = None
    lambda_tv: float = 0.0
    guidance_weight: float = 0.0
    crosscor_threshold: float = 0.6
    target_area: float | None = None
    lambda_area: float = 50.0
    binarize: bool = False
    init_mask: float | None = None

    def __post_init__(self) -> None:
        check_choice("interpreter.masking", self.masking, MASKINGS)
        if self.init_mask is not None and not 0.0 < self.init_mask < 1.0:
            raise ParameterError(
                f"interpreter.init_mask must lie in (0, 1) or be null, got {self.init_mask}"
            )
        check_positive("interpreter.width", self.width)
        check_positive("interpreter.head_width", self.head_width)
        for name in ("lambda_in", "lambda_out", "lambda_l1", "lambda_tv", "guidance_weight"):
            check_positive(f"interpreter.{name}", getattr(self, name), allow_zero=True)


@dataclass
class LmacFtConfig(LmacConfig):
    """L-MAC FT: L-MAC's options with guidance on (``g_w = 4``, threshold 0.6, the recipe's)."""

    guidance_weight: float = 4.0


def total_variation(m: torch.Tensor) -> torch.Tensor:
    """Squared-difference total variation per clip (Dabkowski & Gal 2017), ``(B,)``."""
    df = (m[..., 1:, :] - m[..., :-1, :]).square().flatten(1).mean(1)
    dt = (m[..., :, 1:] - m[..., :, :-1]).square().flatten(1).mean(1)
    return df + dt


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-clip cosine similarity of two maps ``(B, ...)`` (L-MAC FT's "dotp" cross-correlation)."""
    a, b = a.flatten(1), b.flatten(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


class LmacInterpreter(Interpreter):
    """The L-MAC decoder: hidden maps -> mask logits on the feature grid.

    Notes
    -----
    Paissan, Della Libera, Ravanelli, Subakan, "Listenable Maps for Audio Classifiers",
    ICML 2024; loss, weights and the FT guidance follow the speechbrain ESC-50 recipe
    (``recipes/ESC50/interpret/train_lmac.py``).
    """

    Config: ClassVar[type] = LmacConfig

    def __init__(self, config: LmacConfig, spec: HiddenSpec, num_classes: int, **grid) -> None:
        super().__init__(config, spec, num_classes, **grid)
        levels = pick_layers(spec, config.layers)
        self.decoder = HiddenDecoder(
            spec, levels=levels, skips=levels, width=config.width, head_width=config.head_width
        )
        if config.init_mask is not None:
            with torch.no_grad():
                self.decoder.head[-1].bias.fill_(
                    math.log(config.init_mask / (1 - config.init_mask))
                )
        # Typical feature level of the training clips: the reference of the compressed
        # magnitudes FT compares (fitted in prepare, saved with the weights).
        self.register_buffer("ref_db", torch.zeros(()))

    def prepare(self, model: nn.Module, frontend: Any, features: torch.Tensor) -> None:
        self.ref_db.fill_(float(features.median()))

    def mask_logits(self, model: nn.Module, features: torch.Tensor) -> torch.Tensor:
        """Decoder output ``(B, 1, F, T)`` (the mask is its sigmoid)."""
        hidden = model.hidden(features)
        return self.decoder(hidden, features.shape[-2:])

    def loss(
        self, model: nn.Module, frontend: Any, batch: FitBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        with torch.no_grad():
            hidden = model.hidden(batch.features)
        soft = torch.sigmoid(self.decoder(hidden, batch.features.shape[-2:]))
        mask = self._binary(soft) + soft - soft.detach() if cfg.binarize else soft
        x_in, x_out = masked_pair(
            frontend, batch.features, mask, masking=cfg.masking, power=batch.power
        )
        n = batch.features.shape[0]
        logits = model(torch.cat([x_in, x_out]))
        ce_in = F.cross_entropy(logits[:n], batch.target, reduction="none")
        ce_out = F.cross_entropy(logits[n:], batch.target, reduction="none")
        l1 = soft.abs().flatten(1).mean(1) * (n if cfg.l1_batch_scaling else 1)
        cap = math.log(self.num_classes) if cfg.max_ce_out is None else cfg.max_ce_out
        per_clip = cfg.lambda_in * ce_in - cfg.lambda_out * ce_out.clamp(max=cap)
        logs = {"ce_in": float(ce_in.mean().detach()), "ce_out": float(ce_out.mean().detach())}
        sparsity = cfg.lambda_l1 * l1
        if cfg.guidance_weight > 0:
            guided, guide = self._guidance(soft, mask.detach(), batch)
            sparsity = torch.where(guided, torch.zeros_like(sparsity), sparsity)
            per_clip = per_clip + cfg.guidance_weight * guide * guided
            logs["guided"] = float(guided.float().mean())
        per_clip = per_clip + sparsity
        if cfg.target_area is not None:
            area = soft.flatten(1).mean(1)
            per_clip = per_clip + cfg.lambda_area * (area - cfg.target_area).square()
        if cfg.lambda_tv > 0:
            per_clip = per_clip + cfg.lambda_tv * total_variation(soft)
        logs["mask_mean"] = float(mask.detach().mean())
        return per_clip.mean(), logs

    def _guidance(
        self, soft: torch.Tensor, applied: torch.Tensor, batch: FitBatch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Which clips are guided (the mask as applied resembles the clean target), and the
        BCE of the soft mask to the ideal mask (both ``(B,)``)."""
        if batch.ideal is None or batch.clean is None:
            from audiointerp.errors import DatasetError

            raise DatasetError(
                "L-MAC FT's guidance needs the clean target of every training clip (a data set "
                "with stems, such as the synthetic benchmark)"
            )
        with torch.no_grad():
            ref = self.ref_db
            sim = cosine_similarity(
                compressed(batch.clean, ref), applied * compressed(batch.features, ref)
            )
            guided = sim >= self.config.crosscor_threshold
        bce = F.binary_cross_entropy(soft, batch.ideal, reduction="none").flatten(1).mean(1)
        return guided, bce

    @staticmethod
    def _binary(soft: torch.Tensor) -> torch.Tensor:
        return (soft > 0.5).to(soft.dtype)

    def explain(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor, **_: Any
    ) -> Explanation:
        logits = self.mask_logits(model, features)
        soft = torch.sigmoid(logits)
        return Explanation(logits, native_mask=self._binary(soft) if self.config.binarize else soft)


class LmacFtInterpreter(LmacInterpreter):
    """L-MAC fine-tuned toward the clean target (same decoder, guided loss)."""

    Config: ClassVar[type] = LmacFtConfig
    needs_stems: ClassVar[bool] = True


class Lmac(LearnedMethod):
    """L-MAC: a decoder of the classifier's hidden maps trained to mask in what keeps its decision.

    The map (input of the 14 threshold masks) is the decoder's logit, so ``sigmoid`` is the
    native mask and ``bin`` keeps ``M > 0.5``. The mask explains the classifier's prediction
    (the decoder does not take a class); one explanation costs one pass through the
    classifier's blocks plus the decoder.

    Parameters
    ----------
    checkpoint : str or list of str
        An ``lmac`` checkpoint (``audiointerp fit --method lmac``), or several (one per
        classifier).

    Notes
    -----
    Paissan et al., "Listenable Maps for Audio Classifiers", ICML 2024.
    """

    name = "lmac"
    interpreter_cls = LmacInterpreter


class LmacFt(Lmac):
    """L-MAC FT: L-MAC fine-tuned with guidance toward the clean target (needs stems to fit).

    Notes
    -----
    Paissan et al., ICML 2024, the fine-tuned variant of the speechbrain recipe
    (``--finetuning True --g_w 4``, cross-correlation threshold 0.6).
    """

    name = "lmac_ft"
    interpreter_cls = LmacFtInterpreter
