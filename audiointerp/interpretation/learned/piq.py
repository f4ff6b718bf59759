"""PIQ (Posthoc Interpretation via Quantization): a class-partitioned vector-quantized bottleneck.

The deepest hidden map passes through an adapter and is quantized, position by position, to
the nearest key of a codebook whose keys are partitioned among the classes: only the keys of
the explained class are allowed, so everything the mask decoder receives is expressed in that
class's vocabulary. The decoder (no skip connections: nothing may bypass the bottleneck)
outputs a sigmoid mask on the feature grid. The recipe's loss is a reconstruction of the
binarised input plus the VQ codebook and commitment terms; an optional L-MAC-style fidelity
term (``lambda_in``, ``lambda_out``, 0 in the recipe) can be added.

Own VQ rather than ``vector-quantize-pytorch``: the class-partitioned nearest-key search is a
masked argmin that library does not offer, and the straight-through estimator is one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from audiointerp.interpretation.base import Explanation
from audiointerp.interpretation.learned.base import FitBatch, Interpreter, LearnedMethod
from audiointerp.interpretation.learned.decoder import HiddenDecoder, HiddenSpec
from audiointerp.interpretation.learned.masking import MASKINGS, Masking, compressed, masked_pair
from audiointerp.validation import check_choice, check_positive


@dataclass
class PiqConfig:
    """The ``interpreter`` section of ``configs/interpreters/piq.yaml``.

    Attributes
    ----------
    codebook_size : int
        Keys in the codebook, shared out evenly among the classes (PIQ: 1024 for 50 classes).
    code_dim : int
        Dimension of a key (and of the adapter's output).
    width, head_width : int
        Decoder channels.
    commitment : float
        Weight of the commitment term ``|h - sg(z_q)|^2`` (1 in the recipe).
    rec_coef : float
        Weight of the reconstruction BCE to the binarised input (1).
    binarize_threshold : float
        The binarised input is ``V > threshold * max V`` per clip (0.35).
    lambda_in, lambda_out : float
        Optional fidelity terms as in L-MAC (0: the recipe has none).
    masking : {"features", "linear"}
        Masking rule of the fidelity terms.
    """

    codebook_size: int = 256
    code_dim: int = 64
    width: int = 32
    head_width: int = 8
    commitment: float = 1.0
    rec_coef: float = 1.0
    binarize_threshold: float = 0.35
    lambda_in: float = 0.0
    lambda_out: float = 0.0
    masking: Masking = "features"

    def __post_init__(self) -> None:
        for name in ("codebook_size", "code_dim", "width", "head_width"):
            check_positive(f"interpreter.{name}", getattr(self, name))
        for name in ("commitment", "rec_coef", "lambda_in", "lambda_out"):
            check_positive(f"interpreter.{name}", getattr(self, name), allow_zero=True)
        check_choice("interpreter.masking", self.masking, MASKINGS)


class ClassPartitionedVQ(nn.Module):
    """Nearest-key quantization restricted to the keys of each clip's class.

    Parameters
    ----------
    codebook_size, code_dim, num_classes : int
        Key ``k`` belongs to class ``floor(k * num_classes / codebook_size)``.
    """

    def __init__(self, codebook_size: int, code_dim: int, num_classes: int) -> None:
        super().__init__()
        if codebook_size < num_classes:
            from audiointerp.errors import ParameterError

            raise ParameterError(
                f"interpreter.codebook_size={codebook_size} gives some of the {num_classes} "
                "classes no key; use at least one key per class"
            )
        self.codebook = nn.Parameter(
            torch.empty(codebook_size, code_dim).uniform_(-1 / codebook_size, 1 / codebook_size)
        )
        owner = torch.arange(codebook_size) * num_classes // codebook_size
        self.register_buffer("owner", owner)

    def forward(self, h: torch.Tensor, target: torch.Tensor):
        """Quantize ``h`` ``(B, D, F, T)`` with the keys of ``target``'s class.

        Returns
        -------
        z_st : torch.Tensor (B, D, F, T)
            Quantized map with straight-through gradients to ``h``.
        codebook_loss, commitment_loss : torch.Tensor
        codes : torch.Tensor (B, F * T)
            Chosen key per position.
        """
        b, d, f, t = h.shape
        flat = h.permute(0, 2, 3, 1).reshape(b, f * t, d)
        dist = (
            flat.square().sum(-1, keepdim=True)
            - 2 * flat @ self.codebook.T
            + self.codebook.square().sum(-1)[None, None]
        )  # (B, P, K)
        allowed = self.owner[None, :] == target[:, None]  # (B, K)
        dist = dist.masked_fill(~allowed[:, None, :], float("inf"))
        codes = dist.argmin(dim=-1)  # (B, P)
        zq = self.codebook[codes].reshape(b, f, t, d).permute(0, 3, 1, 2)
        codebook_loss = F.mse_loss(zq, h.detach())
        commitment_loss = F.mse_loss(h, zq.detach())
        return h + (zq - h).detach(), codebook_loss, commitment_loss, codes


class PiqInterpreter(Interpreter):
    """Adapter, class-partitioned VQ and mask decoder on the deepest hidden map.

    Notes
    -----
    Paissan, Subakan, Ravanelli, "Posthoc Interpretation via Quantization", arXiv 2303.12659;
    loss and threshold from the speechbrain recipe (``train_piq.py``).
    """

    Config: ClassVar[type] = PiqConfig

    def __init__(self, config: PiqConfig, spec: HiddenSpec, num_classes: int, **grid: Any):
        super().__init__(config, spec, num_classes, **grid)
        deepest = list(spec)[-1]
        ch, d = int(spec[deepest][0]), config.code_dim
        self.deepest = deepest
        self.adapter = nn.Sequential(nn.Conv2d(ch, d, 3, padding=1), nn.ReLU(), nn.Conv2d(d, d, 1))
        self.adapter_skip = nn.Conv2d(ch, d, 1)
        self.vq = ClassPartitionedVQ(config.codebook_size, d, num_classes)
        self.decoder = HiddenDecoder(
            spec,
            levels=list(spec),
            skips=[deepest],
            width=config.width,
            head_width=config.head_width,
            input_channels=d,
        )
        self.register_buffer("ref_db", torch.zeros(()))

    def prepare(self, model: nn.Module, frontend: Any, features: torch.Tensor) -> None:
        self.ref_db.fill_(float(features.median()))

    def _mask_logits(self, model, features, target):
        hidden = model.hidden(features)
        top = hidden[self.deepest]
        z, cb, commit, _ = self.vq(self.adapter(top) + self.adapter_skip(top), target)
        return self.decoder(hidden, features.shape[-2:], top=z), cb, commit

    def loss(
        self, model: nn.Module, frontend: Any, batch: FitBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        logits, cb, commit = self._mask_logits(model, batch.features, batch.target)
        with torch.no_grad():
            v = compressed(batch.features, self.ref_db)
            top = v.flatten(1).amax(1).reshape(-1, 1, 1, 1)
            binary = (v > cfg.binarize_threshold * top).float()
        rec = F.binary_cross_entropy_with_logits(logits, binary)
        loss = cfg.rec_coef * rec + cb + cfg.commitment * commit
        logs = {"rec": float(rec.detach()), "vq": float((cb + commit).detach())}
        if cfg.lambda_in > 0 or cfg.lambda_out > 0:
            mask = torch.sigmoid(logits)
            x_in, x_out = masked_pair(
                frontend, batch.features, mask, masking=cfg.masking, power=batch.power
            )
            n = len(batch.target)
            out = model(torch.cat([x_in, x_out]))
            ce_in = F.cross_entropy(out[:n], batch.target)
            ce_out = F.cross_entropy(out[n:], batch.target)
            loss = loss + cfg.lambda_in * ce_in - cfg.lambda_out * ce_out
            logs["ce_in"] = float(ce_in.detach())
        return loss, logs

    def explain(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor, **_: Any
    ) -> Explanation:
        logits, _, _ = self._mask_logits(model, features, target)
        return Explanation(logits, native_mask=torch.sigmoid(logits))


class Piq(LearnedMethod):
    """PIQ: a mask decoded from the deepest hidden map quantized in the class's own codebook.

    The map (input of the 14 threshold masks) is the decoder's logit, ``sigmoid`` of it the
    native mask. One explanation costs one pass through the classifier's blocks plus the
    interpreter.

    Notes
    -----
    Paissan, Subakan, Ravanelli, "Posthoc Interpretation via Quantization", 2023.
    """

    name = "piq"
    interpreter_cls = PiqInterpreter
