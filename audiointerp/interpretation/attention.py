"""Attention-based interpretations of spectrogram transformers: AMT, rollout, gradient-weighted
attention.

Each reads the model's attention maps through the model protocol (``attend`` /
``attentions``), takes the row of the CLS token (or the mean of the special tokens' rows, what
the AST head pools) over the patch columns, and carries that patch-grid map to the features
with the model's :class:`~audiointerp.models.tokens.TokenLayout`. They need an attention
model: on a CNN they raise (and the grid leaves them out with a note).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import AttributionMethod, Explanation, iter_chunks
from audiointerp.models.tokens import UPSAMPLE_MODES, TokenLayout, Upsample, token_layout
from audiointerp.validation import check_choice, check_positive

Query = Literal["cls", "pooled"]
QUERIES: tuple[str, ...] = ("cls", "pooled")
HeadFusion = Literal["mean", "max", "min"]
HEAD_FUSIONS: tuple[str, ...] = ("mean", "max", "min")


class _AttentionMethod(AttributionMethod):
    """Shared options and the token-row -> feature-map step.

    Parameters
    ----------
    query : {"cls", "pooled"}
        Which token's attention row is read: CLS (the recipes' choice) or the mean of the
        special tokens' rows (what the AST's pooled output averages).
    upsample : {"bilinear", "nearest"}
        How the patch-grid map reaches the feature bins (:meth:`TokenLayout.to_features`).
    batch_size : int
        Clips per forward pass.
    """

    model_kinds = frozenset({"transformer"})
    requires = frozenset({"attention"})

    def __init__(
        self, *, query: Query = "cls", upsample: Upsample = "bilinear", batch_size: int = 16
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.query = check_choice("query", query, QUERIES)
        self.upsample = check_choice("upsample", upsample, UPSAMPLE_MODES)

    def _layout(self, model: nn.Module, features: torch.Tensor) -> TokenLayout:
        return token_layout(model, features.shape[-2], features.shape[-1])

    def _feature_map(self, layout: TokenLayout, rows: torch.Tensor) -> torch.Tensor:
        """``rows (B, N, N)`` (relevance of every token for every token) -> ``(B, 1, F, T)``."""
        if self.query == "cls":
            row = rows[:, 0]
        else:
            row = rows[:, : layout.n_special].mean(dim=1)
        grid = layout.patch_grid(row)[:, None]  # (B, 1, n_freq, n_time)
        return layout.to_features(grid, mode=self.upsample)

    def _maps(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        return torch.cat(
            [
                self._maps(model, features[s], target[s])
                for s in iter_chunks(features.shape[0], self.batch_size)
            ]
        )


class Amt(_AttentionMethod):
    """Activation map thresholding: the last layer's CLS-to-patch attention, thresholded.

    The map is the last block's attention from the query token to every patch, averaged over
    heads and upsampled to the features; the native mask keeps the bins at or above the
    clip's ``quantile`` of that map (the recipe's 0.90: the top 10 %).

    Parameters
    ----------
    quantile : float
        Per-clip threshold quantile of the native mask, in (0, 1).
    query, upsample, batch_size
        See :class:`_AttentionMethod`.

    Notes
    -----
    Della Libera et al., "Focal modulation networks for interpretable sound classification",
    ICASSP workshops 2024 (SpeechBrain's ``interpret_amt.py``: last-layer CLS attention of a
    ViT, bilinear resize, 0.90 quantile). The map does not depend on the explained class.
    """

    name = "amt"
    gives_native_mask = True

    def __init__(
        self,
        *,
        quantile: float = 0.90,
        query: Query = "cls",
        upsample: Upsample = "bilinear",
        batch_size: int = 16,
    ) -> None:
        super().__init__(query=query, upsample=upsample, batch_size=batch_size)
        if not 0.0 < float(quantile) < 1.0:
            raise ParameterError(f"quantile must be in (0, 1), got {quantile!r}")
        self.quantile = float(quantile)

    @torch.no_grad()
    def _maps(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        last = model.attentions(x)[-1].mean(dim=1)  # (B, N, N), heads averaged
        return self._feature_map(self._layout(model, x), last)

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
        *,
        ground_truth: torch.Tensor | None = None,
    ) -> Explanation:
        """The attention map and its top-``(1 - quantile)`` mask as the native mask."""
        ex = super().explain(model, features, target)
        flat = ex.attributions.flatten(1)
        thr = torch.quantile(flat, self.quantile, dim=1)  # (B,)
        ex.native_mask = (ex.attributions >= thr.view(-1, 1, 1, 1)).to(torch.float32)
        return ex


class Rollout(_AttentionMethod):
    """Attention rollout: the product over layers of head-fused attention plus the identity.

    Per layer, heads are fused (mean, max or min), the identity is added (the residual path)
    and rows are renormalised to sum to 1; the layers' matrices are multiplied from the first
    to the last, ``R = A_L ... A_1``, and the query token's row over the patches is the map.

    Parameters
    ----------
    head_fusion : {"mean", "max", "min"}
    discard_ratio : float
        Fraction of the lowest fused attention weights set to zero per clip and layer before
        the identity is added (jacobgil/vit-explain; 0 keeps all). Weights into the special
        tokens are never discarded.
    start_layer : int
        First layer included (0: all).
    query, upsample, batch_size
        See :class:`_AttentionMethod`.

    Notes
    -----
    Abnar & Zuidema, "Quantifying attention flow in transformers", ACL 2020. Computed with
    batched matrix products, so every clip's rollout depends on its own attention only.
    """

    name = "rollout"

    def __init__(
        self,
        *,
        head_fusion: HeadFusion = "mean",
        discard_ratio: float = 0.0,
        start_layer: int = 0,
        query: Query = "cls",
        upsample: Upsample = "bilinear",
        batch_size: int = 16,
    ) -> None:
        super().__init__(query=query, upsample=upsample, batch_size=batch_size)
        self.head_fusion = check_choice("head_fusion", head_fusion, HEAD_FUSIONS)
        if not 0.0 <= float(discard_ratio) < 1.0:
            raise ParameterError(f"discard_ratio must be in [0, 1), got {discard_ratio!r}")
        self.discard_ratio = float(discard_ratio)
        self.start_layer = int(check_positive("start_layer", start_layer, allow_zero=True))

    def _fuse(self, attn: torch.Tensor, n_special: int) -> torch.Tensor:
        if self.head_fusion == "mean":
            fused = attn.mean(dim=1)
        elif self.head_fusion == "max":
            fused = attn.amax(dim=1)
        else:
            fused = attn.amin(dim=1)
        if self.discard_ratio > 0:
            b, n, _ = fused.shape
            patch_part = fused[:, :, n_special:].reshape(b, -1)  # per clip, never the specials
            k = int(patch_part.shape[1] * self.discard_ratio)
            if k:
                lowest = patch_part.topk(k, dim=1, largest=False).indices
                patch_part = patch_part.scatter(1, lowest, 0.0)
                fused = torch.cat([fused[:, :, :n_special], patch_part.view(b, n, -1)], dim=2)
        return fused

    @torch.no_grad()
    def _maps(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        layout = self._layout(model, x)
        attentions = model.attentions(x)[self.start_layer :]
        n = attentions[0].shape[-1]
        eye = torch.eye(n, dtype=attentions[0].dtype, device=x.device)
        rollout = eye.expand(x.shape[0], n, n)
        for attn in attentions:
            a = self._fuse(attn, layout.n_special) + eye
            a = a / a.sum(dim=-1, keepdim=True)
            rollout = a @ rollout  # (B, N, N): this layer after everything below it
        return self._feature_map(layout, rollout)


class GradAttention(_AttentionMethod):
    """Gradient-weighted attention relevance (Chefer et al. 2021b).

    Starting from the identity, each layer adds ``cam @ R`` where ``cam`` is the head mean of
    ``max(0, dlogit_c / dA * A)``; the query token's row over the patches is the map.

    Parameters
    ----------
    start_layer : int
        First layer included (0: all).
    query, upsample, batch_size
        See :class:`_AttentionMethod`.

    Notes
    -----
    Chefer, Gur & Wolf, "Generic attention-model explainability for interpreting bi-modal and
    encoder-decoder transformers", ICCV 2021 (rule for self-attention).
    """

    name = "grad_attention"

    def __init__(
        self,
        *,
        start_layer: int = 0,
        query: Query = "cls",
        upsample: Upsample = "bilinear",
        batch_size: int = 16,
    ) -> None:
        super().__init__(query=query, upsample=upsample, batch_size=batch_size)
        self.start_layer = int(check_positive("start_layer", start_layer, allow_zero=True))

    def _maps(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        layout = self._layout(model, x)
        logits, attentions = model.attend(x)
        # Clips are independent in eval mode, so the sum's gradient is each clip's own.
        score = logits.gather(1, target[:, None]).sum()
        grads = torch.autograd.grad(score, attentions, allow_unused=True)
        # a layer the score does not depend on (only in toy models) adds nothing (grad None)
        n = attentions[0].shape[-1]
        relevance = torch.eye(n, dtype=logits.dtype, device=x.device).expand(x.shape[0], n, n)
        for attn, grad in list(zip(attentions, grads, strict=True))[self.start_layer :]:
            if grad is None:
                continue
            cam = (grad * attn).clamp(min=0).mean(dim=1)  # (B, N, N)
            relevance = relevance + cam @ relevance
        return self._feature_map(layout, relevance.detach())
