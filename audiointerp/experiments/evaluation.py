"""Masked-in / masked-out evaluation of one batch, batched and de-duplicated, and its metrics.

The cost of the grid is model evaluations (DESIGN.md, "Performance"), so every masked variant
of a batch goes through the model in as few forward passes as ``max_batch`` allows, and a
variant whose input is bit-identical to one already evaluated (two masks that coincide for a
clip, the all-floor input that every empty mask produces, a full mask that returns the input)
is evaluated once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class MaskedProbs:
    """Probabilities of the masked-in and masked-out inputs of one mask, ``(B, C)`` each."""

    p_in: torch.Tensor
    p_out: torch.Tensor


def _digests(x: torch.Tensor) -> list[bytes]:
    """128-bit BLAKE2 of each input's bytes, ``x`` ``(B, ...)``: collisions are negligible and
    hashing costs about 1 % of a forward pass of the same input (one device transfer per call).
    """
    arr = x.detach().contiguous().cpu().numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in arr]


@torch.inference_mode()
def predict_probs(model: nn.Module, x: torch.Tensor, max_batch: int) -> torch.Tensor:
    """Softmax probabilities of ``x`` ``(N, 1, F, T)`` in chunks of ``max_batch``; ``(N, C)``."""
    outs = [model(x[i : i + max_batch]).float() for i in range(0, x.shape[0], max_batch)]
    return torch.cat(outs).softmax(dim=-1)


def apply_mask(features: torch.Tensor, mask: torch.Tensor, base: float) -> torch.Tensor:
    """``(X - base) * M + base`` (DESIGN.md data flow step 6)."""
    from audiointerp.interpretation import masks as masks_mod

    return masks_mod.apply_mask(features, mask, base)


def evaluate_masks(
    model: nn.Module,
    features: torch.Tensor,
    probs: torch.Tensor,
    masks: Mapping[str, torch.Tensor],
    *,
    base: float,
    max_batch: int = 128,
) -> tuple[dict[str, MaskedProbs], dict[str, int]]:
    """Probabilities of every masked-in and masked-out variant of a batch.

    Parameters
    ----------
    model : nn.Module
        Classifier in eval mode.
    features : torch.Tensor (B, 1, F, T)
        Model input.
    probs : torch.Tensor (B, C)
        Probabilities of ``features`` (reused for variants equal to the input).
    masks : mapping of str to torch.Tensor (B, 1, F, T)
        Masks in [0, 1].
    base : float
        Masking base (the frontend's silence floor in dB).
    max_batch : int
        Most inputs per forward pass.

    Returns
    -------
    results : dict of str to MaskedProbs
    counts : dict
        ``variants`` (masked inputs requested) and ``evaluated`` (distinct inputs run).
    """
    n = features.shape[0]
    own = _digests(features)
    index: dict[bytes, int] = {key: -(b + 1) for b, key in enumerate(own)}
    unique: list[torch.Tensor] = []
    slots: dict[str, tuple[list[int], list[int]]] = {}
    for name, mask in masks.items():
        pair: tuple[list[int], list[int]] = ([], [])
        for side, m in ((0, mask), (1, 1.0 - mask)):
            variants = apply_mask(features, m, base)
            # A full mask gives the input back up to rounding of (x - base) + base: reuse p.
            full = (m == 1).flatten(1).all(dim=1).tolist()
            keys = _digests(variants)
            for b in range(n):
                key = own[b] if full[b] else keys[b]
                if key not in index:
                    index[key] = len(unique)
                    unique.append(variants[b])
                pair[side].append(index[key])
        slots[name] = pair
    if unique:
        evaluated = predict_probs(model, torch.stack(unique), max_batch)
    else:
        evaluated = probs.new_zeros((0, probs.shape[1]))

    def gather(ids: list[int]) -> torch.Tensor:
        return torch.stack([probs[-i - 1] if i < 0 else evaluated[i] for i in ids])

    results = {name: MaskedProbs(gather(i), gather(o)) for name, (i, o) in slots.items()}
    counts = {"variants": 2 * n * len(masks), "evaluated": len(unique)}
    return results, counts


def evaluate_masks_naive(
    model: nn.Module,
    features: torch.Tensor,
    masks: Mapping[str, torch.Tensor],
    *,
    base: float,
) -> dict[str, MaskedProbs]:
    """Reference implementation: one forward pass per mask and side (for tests)."""
    out = {}
    for name, mask in masks.items():
        p_in = predict_probs(model, apply_mask(features, mask, base), features.shape[0])
        p_out = predict_probs(model, apply_mask(features, 1.0 - mask, base), features.shape[0])
        out[name] = MaskedProbs(p_in, p_out)
    return out


def to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Detach a tensor to a NumPy array (arrays pass through)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
