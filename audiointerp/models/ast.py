"""A small Audio Spectrogram Transformer (AST) in the model protocol.

Patch embedding of the dB features with non-overlapping patches, a CLS token and (optionally)
a distillation token, positional embeddings, pre-norm transformer blocks, and the mean of the
special tokens after the final layer norm as the pooled output, as in Gong et al.'s AST. Sized
for a CPU: width 64-128, depth 4-6 and 8 x 16 patches give an 8 x 20 token grid on the
benchmark's 64 x 313 log-mel input (5 s).

:meth:`AudioSpectrogramTransformer.attend` computes attention explicitly, so every layer's
attention probabilities come out of the same forward pass as the logits and stay in the
autograd graph for gradient-weighted attention; plain forward passes (training, gradients,
perturbations: every other method) use the fused ``scaled_dot_product_attention`` kernel,
about twice as fast end to end on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.models.base import AudioClassifier, ModelConfig
from audiointerp.models.registry import ModelFamily
from audiointerp.models.tokens import TokenLayout
from audiointerp.validation import check_positive, check_tensor


def _pair(name: str, value: Any) -> tuple[int, int]:
    """``8`` -> ``(8, 8)``; ``[8, 16]`` -> ``(8, 16)``; anything else is an error."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ParameterError(
            f"{name} must be a positive int or a pair [bins, frames] of them, got {value!r}"
        )
    return int(value[0]), int(value[1])


@dataclass
class AstConfig(ModelConfig):
    """The ``model`` section for ``arch: ast``.

    Attributes
    ----------
    patch : (int, int) or int
        Patch size in (bins, frames); patches do not overlap (stride = size). The input is
        padded up to whole patches, so every feature bin belongs to exactly one token.
    dim : int
        Token width.
    depth : int
        Transformer blocks.
    heads : int
        Attention heads per block (``dim`` must be divisible by it).
    mlp_ratio : float
        Hidden width of each block's MLP relative to ``dim``.
    distillation : bool
        A second special token beside CLS (DeiT, AST); the pooled output averages them.
    max_frames : int
        Longest input in frames the time positions cover (313 = 5 s of the default
        frontend); shorter inputs use the first positions (without time positions, inputs of
        any length work).
    time_positions : bool
        Learn a positional embedding per time patch (besides the one per frequency patch).
        Without it, attention treats time patches as a set: the model is invariant to shifts
        of the clip by whole patches, the prior a sound-event classifier wants.
    dropout : float
        Dropout on the embeddings, after attention and in the MLP.
    attn_dropout : float
        Dropout on the attention probabilities (training only).
    """

    arch: str = "ast"
    patch: tuple[int, int] | int = (8, 16)  # an int: square patches
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    distillation: bool = True
    max_frames: int = 313
    time_positions: bool = True
    dropout: float = 0.1
    attn_dropout: float = 0.0

    def __post_init__(self) -> None:
        self.patch = _pair("model.patch", self.patch)
        for name in ("dim", "depth", "heads", "max_frames", "mlp_ratio"):
            check_positive(f"model.{name}", getattr(self, name))
        if self.dim % self.heads:
            raise ParameterError(
                f"model.dim={self.dim} is not divisible by model.heads={self.heads}; "
                "pick heads dividing dim (e.g. dim 64, heads 4)"
            )
        for name in ("dropout", "attn_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ParameterError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")


class SelfAttention(nn.Module):
    """Multi-head self-attention that returns its attention probabilities.

    Parameters
    ----------
    dim, heads : int
    attn_dropout, dropout : float
        Dropout on the probabilities and on the output projection.
    """

    def __init__(self, dim: int, heads: int, *, attn_dropout: float, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.softmax = nn.Softmax(dim=-1)
        self.attn_drop = nn.Dropout(attn_dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, *, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(output (B, N, D), attention (B, H, N, N) or None)``.

        Without ``need_weights`` the fused kernel runs (``scaled_dot_product_attention``,
        about three times faster on a CPU) and no probabilities are returned.
        """
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, H, N, D/H) each
        if need_weights:
            attn = self.softmax((q * self.scale) @ k.transpose(-2, -1))  # (B, H, N, N)
            out = self.attn_drop(attn) @ v  # (B, H, N, D/H)
        else:
            p = self.attn_drop.p if self.training else 0.0
            out, attn = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p), None
        out = out.transpose(1, 2).reshape(b, n, d)  # (B, N, D)
        return self.proj_drop(self.proj(out)), attn


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, *, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(
        self, dim: int, heads: int, *, mlp_ratio: float, dropout: float, attn_dropout: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, attn_dropout=attn_dropout, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, round(dim * mlp_ratio), dropout=dropout)

    def forward(
        self, x: torch.Tensor, *, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, attn = self.attn(self.norm1(x), need_weights=need_weights)
        x = x + h
        return x + self.mlp(self.norm2(x)), attn


class AudioSpectrogramTransformer(AudioClassifier):
    """A small AST on dB spectrogram features ``(B, 1, F, T)``.

    Parameters
    ----------
    num_classes : int
    num_bins : int
        Input frequency bins ``F``.
    patch : (int, int)
        Patch size (bins, frames); non-overlapping.
    dim, depth, heads : int
    mlp_ratio : float
    distillation : bool
        Add the distillation token (two special tokens, as in AST).
    max_frames : int
        Longest input in frames.
    time_positions : bool
        Add a learned embedding per time patch (see :class:`AstConfig`).
    dropout, attn_dropout : float

    Notes
    -----
    Gong, Chung & Glass, "AST: Audio Spectrogram Transformer", Interspeech 2021 (patches,
    CLS + distillation tokens, pooled mean of the two). Differences, for a from-scratch model
    on a CPU: non-overlapping patches; input normalised per frequency bin by batch norm
    (``bn0``, as the PANNs CNNs here) instead of a fixed data set mean and deviation; separate
    frequency and time positional embeddings added together (as in PaSST, Koutini et al.,
    Interspeech 2022), so shorter clips use the first time positions; the time positions can
    be left out (``time_positions=False``) for a model invariant to time shifts by whole
    patches.
    """

    kind = "transformer"
    #: Plain forward passes use the fused attention kernel; set False to run the explicit
    #: softmax (e.g. for hooks on ``blocks[i].attn.softmax``) everywhere.
    fused_attention: bool = True

    def __init__(
        self,
        *,
        num_classes: int,
        num_bins: int,
        patch: tuple[int, int] = (8, 16),
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        distillation: bool = True,
        max_frames: int = 313,
        time_positions: bool = True,
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive("num_classes", num_classes)
        check_positive("num_bins", num_bins)
        self.num_classes, self.num_bins = int(num_classes), int(num_bins)
        self.patch = _pair("patch", patch)
        self.max_frames = int(max_frames)
        self.n_special = 2 if distillation else 1
        n_freq, n_time = self.token_grid(self.num_bins, self.max_frames)
        self.bn0 = nn.BatchNorm2d(num_bins)
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=self.patch, stride=self.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim)) if distillation else None
        self.pos_freq = nn.Parameter(torch.zeros(n_freq, dim))
        self.pos_time = nn.Parameter(torch.zeros(n_time, dim)) if time_positions else None
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio=mlp_ratio, dropout=dropout, attn_dropout=attn_dropout)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        # Grad-CAM reads the tokens entering the last attention: the last block's outputs at
        # patch positions never reach the pooled special tokens, so their gradient is zero.
        self.gradcam_layer = f"blocks.{depth - 1}.norm1"
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Truncated normal (std 0.02) for the special tokens and positions, Xavier-uniform for
        the patch projection and every linear layer (as MAE's ViT), zero biases, unit norms.

        At width 64, Xavier weights are four times larger than ViT's std-0.02 linear weights;
        from scratch on the benchmark they train several times faster.
        """
        for p in (self.cls_token, self.dist_token, self.pos_freq, self.pos_time):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)
        w = self.patch_embed.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # --- geometry -----------------------------------------------------------------------------
    def token_grid(self, n_bins: int, n_frames: int) -> tuple[int, int]:
        """``(ceil(F / patch_bins), ceil(T / patch_frames))``: the input is padded up."""
        return math.ceil(n_bins / self.patch[0]), math.ceil(n_frames / self.patch[1])

    def token_layout(self, n_bins: int, n_frames: int) -> TokenLayout:
        """Special tokens first, then the patches frequency-major (see :mod:`.tokens`)."""
        grid = self.token_grid(n_bins, n_frames)
        return TokenLayout(self.n_special, grid, self.patch, self.patch, n_bins, n_frames)

    # --- forward ------------------------------------------------------------------------------
    def _embed(self, features: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        check_tensor("features", features, shape=(None, 1, self.num_bins, None), finite=False)
        n_frames = features.shape[-1]
        if n_frames > self.max_frames and self.pos_time is not None:
            raise ParameterError(
                f"features have {n_frames} frames but this AST covers at most {self.max_frames} "
                f"(model.max_frames); crop the audio (e.g. --duration-s) or retrain with a "
                "larger max_frames"
            )
        x = self.bn0(features.transpose(1, 2)).transpose(1, 2)  # (B, 1, F, T), per-bin norm
        n_freq, n_time = self.token_grid(self.num_bins, n_frames)
        pad_f = n_freq * self.patch[0] - self.num_bins
        pad_t = n_time * self.patch[1] - n_frames
        if pad_f or pad_t:  # zeros = each bin's normalised mean: whole patches, no bin dropped
            x = nn.functional.pad(x, (0, pad_t, 0, pad_f))
        x = self.patch_embed(x)  # (B, D, n_freq, n_time)
        x = x.flatten(2).transpose(1, 2)  # (B, n_freq * n_time, D), frequency-major
        pos = self.pos_freq[:, None, :].expand(-1, n_time, -1)  # (n_freq, n_time, D)
        if self.pos_time is not None:
            pos = pos + self.pos_time[None, :n_time, :]
        x = x + pos.reshape(1, n_freq * n_time, -1)
        special = [self.cls_token] + ([self.dist_token] if self.dist_token is not None else [])
        x = torch.cat([s.expand(x.shape[0], -1, -1) for s in special] + [x], dim=1)
        return self.pos_drop(x), (n_freq, n_time)  # (B, n_special + N, D)

    def _run(
        self, features: torch.Tensor, *, attention: bool, keep_hidden: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor], tuple[int, int]]:
        x, grid = self._embed(features)
        need = attention or not self.fused_attention
        attentions, hidden = [], []
        for block in self.blocks:
            x, attn = block(x, need_weights=need)  # (B, N, D), (B, H, N, N) or None
            if attention:
                attentions.append(attn)
            if keep_hidden:
                hidden.append(x)
        pooled = self.norm(x)[:, : self.n_special].mean(dim=1)  # (B, D): mean of special tokens
        return self.head(pooled), attentions, hidden, grid

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, num_classes)`` for features ``(B, 1, F, T)``."""
        return self._run(features, attention=False)[0]

    def attend(self, features: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``(B, C)`` and each block's attention ``(B, heads, N, N)`` from one pass
        (explicit softmax attention: its logits equal :meth:`forward`'s to float rounding)."""
        logits, attentions, _, _ = self._run(features, attention=True)
        return logits, attentions

    def attentions(self, features: torch.Tensor) -> list[torch.Tensor]:
        """Each block's attention probabilities ``(B, heads, N, N)``, first block first."""
        return self.attend(features)[1]

    def hidden(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each block's patch tokens as maps ``{"block1": (B, D, n_freq, n_time), ...}``."""
        _, _, hidden, grid = self._run(features, attention=False, keep_hidden=True)
        return {
            f"block{i}": h[:, self.n_special :].transpose(1, 2).reshape(h.shape[0], -1, *grid)
            for i, h in enumerate(hidden, start=1)
        }


def build_ast(cfg: AstConfig, *, num_classes: int, num_bins: int) -> AudioSpectrogramTransformer:
    """Build the AST a config describes."""
    return AudioSpectrogramTransformer(
        num_classes=num_classes,
        num_bins=num_bins,
        patch=cfg.patch,
        dim=cfg.dim,
        depth=cfg.depth,
        heads=cfg.heads,
        mlp_ratio=cfg.mlp_ratio,
        distillation=cfg.distillation,
        max_frames=cfg.max_frames,
        time_positions=cfg.time_positions,
        dropout=cfg.dropout,
        attn_dropout=cfg.attn_dropout,
    )


#: The registry entry (``"ast": "audiointerp.models.ast:AST"`` in :mod:`.registry`).
AST = ModelFamily(AstConfig, build_ast)
