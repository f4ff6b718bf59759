"""Decoders from a classifier's hidden feature maps back to its time-frequency grid.

Every learned interpreter here reads ``model.hidden(features)`` (the model protocol's named
maps, shallow to deep) rather than the spectrogram: what it shows is then what the classifier
computed, and randomizing the classifier changes it (the sanity check). The decoder is built
from a probe of the maps' channel counts, so it fits any member of a model family (any width or
depth, any input pooling), and resizes by interpolation to whatever grid a clip has, so clips of
any length work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from audiointerp.errors import ParameterError

#: ``name -> [channels, bins, frames]`` of each hidden map for the probe input.
HiddenSpec = dict[str, list[int]]


@torch.no_grad()
def probe_hidden(model: nn.Module, features: torch.Tensor) -> HiddenSpec:
    """Shapes ``[C, F, T]`` of each hidden map of ``model`` on ``features`` (one clip suffices)."""
    hidden = model.hidden(features[:1])
    if not hidden:
        raise ParameterError(f"{type(model).__name__}.hidden() returned no maps")
    return {name: list(h.shape[1:]) for name, h in hidden.items()}


def pick_layers(spec: Mapping[str, Sequence[int]], layers: int | Sequence[str] | None) -> list[str]:
    """Hidden-map names a decoder reads, shallow to deep: the deepest ``layers`` (an int), the
    named ones, or all (``None``)."""
    names = list(spec)
    if layers is None:
        return names
    if isinstance(layers, int):
        if not 1 <= layers <= len(names):
            raise ParameterError(f"layers={layers}: the model has {len(names)} hidden maps {names}")
        return names[-layers:]
    unknown = [n for n in layers if n not in spec]
    if unknown:
        raise ParameterError(f"layers {unknown} are not hidden maps of the model ({names})")
    return [n for n in names if n in layers]


class HiddenDecoder(nn.Module):
    """Top-down decoder: deepest map first, upsampled and fused with shallower ones.

    At each level (deep to shallow) the running map is resized to that level's grid, the
    level's own map is added through a 1x1 projection (a skip connection, for levels in
    ``skips``), and a 3x3 conv + ReLU mixes them. A light head at the output grid gives
    ``out_channels`` maps.

    Parameters
    ----------
    spec : HiddenSpec
        Channels of every hidden map (:func:`probe_hidden`).
    levels : sequence of str
        Maps whose grids the decoder passes through, shallow to deep; the deepest is its input.
    skips : sequence of str
        Levels whose own maps are added on the way up (all of ``levels`` for L-MAC; only the
        deepest for a bottlenecked decoder such as PIQ's).
    width : int
        Channels inside the decoder.
    head_width : int
        Channels of the full-resolution stage (kept small: it runs on every bin).
    out_channels : int or None
        Output maps (1 for a mask); ``None`` builds no head (only :meth:`trunk` is used).
    input_channels : int, optional
        Channels of the deepest input if it is not the raw hidden map (a quantized one).

    Notes
    -----
    L-MAC's decoder (Paissan et al., ICML 2024) is a transposed-conv tower tied to CNN14's
    shapes; this one keeps its idea (several depths of the classifier, fused on the way up)
    but resizes by bilinear interpolation so it fits any model of the family.
    """

    def __init__(
        self,
        spec: Mapping[str, Sequence[int]],
        *,
        levels: Sequence[str],
        skips: Sequence[str],
        width: int = 32,
        head_width: int = 8,
        out_channels: int | None = 1,
        input_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.levels = list(levels)[::-1]  # deep -> shallow
        self.skips = [n for n in self.levels if n in set(skips)]
        deepest = self.levels[0]
        in_ch = int(input_channels or spec[deepest][0])
        self.inp = nn.Conv2d(in_ch, width, 1)
        self.proj = nn.ModuleDict(
            {n.replace(".", "_"): nn.Conv2d(int(spec[n][0]), width, 1) for n in self.skips[1:]}
        )
        self.fuse = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()) for _ in self.levels]
        )
        if out_channels is not None:
            self.to_head = nn.Conv2d(width, head_width, 1)
            self.head = nn.Sequential(
                nn.Conv2d(head_width, head_width, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(head_width, out_channels, 1),
            )

    def trunk(self, hidden: Mapping[str, torch.Tensor], top: torch.Tensor | None = None):
        """The fused map at the shallowest level, ``(B, width, F_1, T_1)``.

        ``top`` replaces the deepest hidden map as the input (e.g. its quantized version).
        """
        h = self.inp(hidden[self.levels[0]] if top is None else top)
        for i, name in enumerate(self.levels):
            size = hidden[name].shape[-2:]
            if i:
                h = F.interpolate(h, size=size, mode="bilinear", align_corners=False)
                key = name.replace(".", "_")
                if key in self.proj:
                    h = h + self.proj[key](hidden[name])
            h = self.fuse[i](h)
        return h

    def forward(
        self,
        hidden: Mapping[str, torch.Tensor],
        size: tuple[int, int],
        top: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Output maps ``(B, out_channels, F, T)`` on the grid ``size = (F, T)``."""
        h = self.to_head(self.trunk(hidden, top))
        h = F.interpolate(h, size=tuple(size), mode="bilinear", align_corners=False)
        return self.head(torch.relu(h))
