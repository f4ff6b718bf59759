"""Where a spectrogram transformer's tokens sit on the feature grid.

A :class:`TokenLayout` says how the token sequence of a patch-based transformer (the package's
AST, a Hugging Face AST) maps onto the ``F x T`` features: how many special tokens lead the
sequence (CLS, distillation), the patch grid, each patch's size and stride. Attention methods
and Grad-CAM read per-token values through it and turn them into ``(B, 1, F, T)`` maps, so
they never need to know the model family.

Tokens are frequency-major, as in the AST of Gong et al. (2021): patch ``(i, j)`` (frequency
row ``i``, time column ``j``) is token ``n_special + i * n_time + j``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice

Upsample = Literal["nearest", "bilinear"]
UPSAMPLE_MODES: tuple[str, ...] = ("nearest", "bilinear")


@dataclass(frozen=True)
class TokenLayout:
    """The token sequence of a patch transformer on an ``n_bins x n_frames`` input.

    Attributes
    ----------
    n_special : int
        Leading special tokens (1: CLS; 2: CLS and distillation).
    grid : (int, int)
        Patch grid ``(n_freq, n_time)``.
    patch : (int, int)
        Patch size in (bins, frames).
    stride : (int, int)
        Patch stride in (bins, frames); equal to ``patch`` for non-overlapping patches.
    n_bins, n_frames : int
        The feature grid ``F x T`` the tokens were computed from. Patches may extend past it
        (inputs padded up to whole patches) or leave a remainder uncovered (strided patches
        that do not reach the last bins); :meth:`to_features` crops or zero-fills accordingly.
    """

    n_special: int
    grid: tuple[int, int]
    patch: tuple[int, int]
    stride: tuple[int, int]
    n_bins: int
    n_frames: int

    @property
    def n_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def n_tokens(self) -> int:
        return self.n_special + self.n_patches

    def box(self, index: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Feature rectangle ``((f0, f1), (t0, t1))`` (end-exclusive, clipped) of patch ``index``."""
        if not 0 <= index < self.n_patches:
            raise ParameterError(f"patch index {index} is outside 0..{self.n_patches - 1}")
        i, j = divmod(int(index), self.grid[1])
        f0, t0 = i * self.stride[0], j * self.stride[1]
        f1 = min(f0 + self.patch[0], self.n_bins)
        t1 = min(t0 + self.patch[1], self.n_frames)
        return (f0, f1), (t0, t1)

    def patch_grid(self, values: torch.Tensor) -> torch.Tensor:
        """Per-token values ``(..., n_tokens)`` -> patch grid ``(..., n_freq, n_time)``.

        The special tokens are dropped.
        """
        if values.shape[-1] != self.n_tokens:
            raise ParameterError(
                f"expected {self.n_tokens} tokens ({self.n_special} special + "
                f"{self.grid[0]} x {self.grid[1]} patches), got {values.shape[-1]}"
            )
        return values[..., self.n_special :].reshape(*values.shape[:-1], *self.grid)

    def to_features(self, grid_map: torch.Tensor, *, mode: Upsample = "nearest") -> torch.Tensor:
        """Carry a patch-grid map ``(B, C, n_freq, n_time)`` to the features ``(B, C, F, T)``.

        Parameters
        ----------
        grid_map : torch.Tensor (B, C, n_freq, n_time)
        mode : {"nearest", "bilinear"}
            ``"nearest"``: each feature bin takes the mean of the patches that cover it (for
            non-overlapping patches, each patch's value fills exactly its rectangle);
            ``"bilinear"``: bilinear interpolation over the patches' extent with patch centres
            at the patch value (``align_corners=False``), as ViT attention maps are usually
            resized. Bins no patch covers are 0 either way: the model never saw them.

        Returns
        -------
        torch.Tensor (B, C, F, T)
        """
        check_choice("mode", mode, UPSAMPLE_MODES)
        if tuple(grid_map.shape[-2:]) != self.grid or grid_map.ndim != 4:
            raise ParameterError(
                f"grid_map must have shape (B, C, {self.grid[0]}, {self.grid[1]}), "
                f"got {tuple(grid_map.shape)}"
            )
        (nf, nt), (pf, pt), (sf, st) = self.grid, self.patch, self.stride
        extent = ((nf - 1) * sf + pf, (nt - 1) * st + pt)
        b, c = grid_map.shape[:2]
        if mode == "bilinear":
            out = F.interpolate(grid_map, size=extent, mode="bilinear", align_corners=False)
        elif (pf, pt) == (sf, st):  # non-overlapping: plain block replication
            out = grid_map.repeat_interleave(pf, dim=-2).repeat_interleave(pt, dim=-1)
        else:  # overlapping patches: average of every patch covering a bin
            flat = grid_map.reshape(b * c, 1, nf, nt)
            ones = torch.ones(1, 1, pf, pt, dtype=flat.dtype, device=flat.device)
            total = F.conv_transpose2d(flat, ones, stride=(sf, st))
            count = F.conv_transpose2d(torch.ones_like(flat[:1]), ones, stride=(sf, st))
            out = (total / count).reshape(b, c, *extent)
        out = out[..., : self.n_bins, : self.n_frames]
        pad_f, pad_t = self.n_bins - out.shape[-2], self.n_frames - out.shape[-1]
        if pad_f or pad_t:  # strided patches stop short of the last bins: they carry nothing
            out = F.pad(out, (0, pad_t, 0, pad_f))
        return out


def token_layout(model: torch.nn.Module, n_bins: int, n_frames: int) -> TokenLayout:
    """``model.token_layout(n_bins, n_frames)``, with an error naming what is missing."""
    fn = getattr(model, "token_layout", None)
    if fn is None:
        raise ParameterError(
            f"{type(model).__name__} has no token layout; token-based maps need a transformer "
            "(build_model('ast', ...) or a Hugging Face AST directory)"
        )
    return fn(n_bins, n_frames)
