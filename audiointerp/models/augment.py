"""Batched feature-space augmentation: SpecAugment masking, random circular time shifts and
mixup."""

from __future__ import annotations

import numpy as np
import torch

from audiointerp.validation import check_choice, check_positive, check_tensor

#: What SpecAugment writes into its bands (``train.mask_fill``): the clip's mean, the
#: frontend's silence floor, or zero in feature units (0 dB; the reproduced study's
#: ``torchaudio`` masking, whose ``mask_value`` defaults to 0).
MASK_FILLS: tuple[str, ...] = ("mean", "floor", "zero")


def mask_fill_value(kind: str, floor_db: float) -> float | None:
    """The ``fill`` of :func:`spec_augment` for a ``train.mask_fill`` choice (``None``: the
    clip's mean)."""
    check_choice("train.mask_fill", kind, MASK_FILLS)
    return {"mean": None, "floor": float(floor_db), "zero": 0.0}[kind]


def _band_mask(
    n: int, size: int, width_max: int, count: int, generator: torch.Generator
) -> torch.Tensor:
    """``(n, size)`` bool, True inside ``count`` random bands of width ``0..width_max`` per row."""
    width_max = min(width_max, size)
    mask = torch.zeros(n, size, dtype=torch.bool)
    pos = torch.arange(size)
    for _ in range(count):
        width = torch.randint(0, width_max + 1, (n, 1), generator=generator)
        start = (torch.rand(n, 1, generator=generator) * (size - width + 1)).floor().long()
        mask |= (pos >= start) & (pos < start + width)
    return mask


def spec_augment(
    features: torch.Tensor,
    *,
    freq_mask: int,
    time_mask: int,
    n_freq_masks: int = 2,
    n_time_masks: int = 2,
    generator: torch.Generator,
    fill: float | None = None,
) -> torch.Tensor:
    """Mask random frequency and time bands of each clip with a fill value.

    Parameters
    ----------
    features : torch.Tensor (B, 1, F, T)
        dB features.
    freq_mask, time_mask : int
        Largest band width in bins / frames (0 disables that axis).
    n_freq_masks, n_time_masks : int
        Bands per clip and axis.
    generator : torch.Generator
        CPU generator, so the masks do not depend on the device.
    fill : float or None
        Value written into the bands (e.g. the frontend's silence floor, or 0 as in
        ``torchaudio``'s masking); ``None`` uses each clip's mean (:func:`mask_fill_value`).

    Returns
    -------
    torch.Tensor (B, 1, F, T)
        A new tensor; ``features`` is left unchanged.

    Notes
    -----
    Park et al., "SpecAugment", Interspeech 2019. PANNs masks with zeros after its input batch
    norm, i.e. with the mean; the per-clip mean is the same idea before normalisation.
    """
    check_tensor("features", features, ndim=4, finite=False)
    b, _, f, t = features.shape
    mask = torch.zeros(b, f, t, dtype=torch.bool)
    if freq_mask > 0 and n_freq_masks > 0:
        mask |= _band_mask(b, f, freq_mask, n_freq_masks, generator)[:, :, None]
    if time_mask > 0 and n_time_masks > 0:
        mask |= _band_mask(b, t, time_mask, n_time_masks, generator)[:, None, :]
    if fill is None:
        value = features.mean(dim=(2, 3), keepdim=True)
    else:
        value = torch.full((), float(fill), dtype=features.dtype, device=features.device)
    return torch.where(mask[:, None].to(features.device), value, features)


def time_roll(features: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Shift each clip circularly in time by a random number of frames (uniform over ``T``).

    Parameters
    ----------
    features : torch.Tensor (B, 1, F, T)
    generator : torch.Generator
        CPU generator.

    Returns
    -------
    torch.Tensor (B, 1, F, T)
        A new tensor; an event shifted past the end comes back at the start.

    Notes
    -----
    Teaches a classifier that when an event happens does not matter (and, for a patch
    transformer, where it falls within a patch), which a CNN's pooling already builds in.
    """
    check_tensor("features", features, ndim=4, finite=False)
    t = features.shape[-1]
    shift = torch.randint(0, t, (features.shape[0], 1), generator=generator)
    index = (torch.arange(t)[None, :] - shift) % t  # (B, T): output frame j <- input j - shift
    index = index.to(features.device)[:, None, None, :].expand_as(features)
    return torch.gather(features, -1, index)


def mixup(
    features: torch.Tensor, labels: torch.Tensor, *, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mix each clip with a random partner of the batch.

    Parameters
    ----------
    features : torch.Tensor (B, 1, F, T)
        Input batch.
    labels : torch.Tensor (B,)
        Integer labels.
    alpha : float
        Beta(alpha, alpha) parameter of the mixing weight.
    generator : torch.Generator
        CPU generator.

    Returns
    -------
    mixed : torch.Tensor (B, 1, F, T)
    labels_a, labels_b : torch.Tensor (B,)
        Targets weighted ``lam`` and ``1 - lam`` in the loss.
    lam : float

    Notes
    -----
    Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018.
    """
    check_positive("alpha", alpha)
    # torch.distributions cannot take a generator; seed NumPy's Beta from ours instead.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(features.shape[0], generator=generator).to(features.device)
    mixed = lam * features + (1.0 - lam) * features[perm]
    return mixed, labels, labels[perm], lam
