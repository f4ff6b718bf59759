"""Learned interpreters on toys whose answers are known: a classifier whose only evidence is one
time-frequency rectangle (L-MAC must find it) and spectrograms made of known NMF components."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from audiointerp.interpretation.learned.base import FitBatch
from audiointerp.interpretation.learned.decoder import probe_hidden
from audiointerp.interpretation.learned.lmac import LmacConfig, LmacInterpreter
from audiointerp.interpretation.learned.nmf import (
    DictionaryConfig,
    activations,
    component_masks,
    learn_dictionary,
    select,
)
from audiointerp.models.base import AudioClassifier

F_BINS, T_FRAMES, FLOOR = 16, 24, -100.0
RECT = (slice(4, 9), slice(10, 18))  # bins 4-8, frames 10-17: the only evidence


class RectClassifier(AudioClassifier):
    """Class 1 iff the mean level inside RECT is high; nothing else matters.

    Its hidden maps see the input through the rectangle only (that is what "only evidence"
    means for a network): block 1 at full resolution, block 2 pooled 2 x 2.
    """

    def __init__(self) -> None:
        super().__init__()
        self.num_classes, self.num_bins = 2, F_BINS
        window = torch.zeros(1, 1, F_BINS, T_FRAMES)
        window[..., RECT[0], RECT[1]] = 1.0
        self.register_buffer("window", window)
        self.pool = nn.AvgPool2d(2)
        self.scale = nn.Parameter(torch.tensor(0.1))  # a parameter, so the protocol holds

    def _block1(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - FLOOR) * self.window) / 100.0

    def hidden(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        h1 = self._block1(features)
        return {"conv_block1": h1, "conv_block2": self.pool(h1)}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        inside = self._block1(features).sum((1, 2, 3)) / self.window.sum() * 100.0  # mean level
        logit1 = self.scale * inside - 6.0  # -20 dB inside (80 above floor) -> +2; -60 dB -> -2
        return torch.stack([torch.zeros_like(logit1), logit1], dim=1)


def toy_batch(n: int, gen: torch.Generator) -> torch.Tensor:
    """Random levels everywhere (-60..-20 dB); inside RECT, half the clips are loud (-20 dB,
    class 1) and the others quiet (-70..-60 dB, class 0)."""
    x = -60.0 + 40.0 * torch.rand(n, 1, F_BINS, T_FRAMES, generator=gen)
    loud = (torch.arange(n) % 2 == 0)[:, None, None, None]
    quiet = -70.0 + 10.0 * torch.rand(n, 1, *x[0, 0][RECT].shape, generator=gen)
    x[:, :, RECT[0], RECT[1]] = torch.where(loud, torch.full_like(quiet, -20.0), quiet)
    return x


def fit_batch(model: nn.Module, x: torch.Tensor) -> FitBatch:
    with torch.no_grad():
        logits = model(x)
    target = logits.argmax(-1)
    return FitBatch(x, torch.zeros(0), target, logits, target)


def test_lmac_recovers_the_only_evidence_rectangle():
    torch.manual_seed(0)
    model = RectClassifier().eval().requires_grad_(False)
    frontend = SimpleNamespace(floor_db=FLOOR)
    gen = torch.Generator().manual_seed(0)
    assert (model(toy_batch(8, gen)).argmax(-1) == (torch.arange(8) % 2 == 0).long()).all()
    spec = probe_hidden(model, toy_batch(1, gen))
    cfg = LmacConfig(width=8, head_width=4)
    interp = LmacInterpreter(cfg, spec, 2, n_bins=F_BINS, floor_db=FLOOR)
    opt = torch.optim.Adam(interp.parameters(), lr=3e-3)
    for _ in range(300):
        loss, _ = interp.loss(model, frontend, fit_batch(model, toy_batch(16, gen)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    interp.eval()
    x = toy_batch(16, gen)
    with torch.no_grad():
        mask = interp.explain(model, x, model(x).argmax(-1)).native_mask
    truth = torch.zeros(F_BINS, T_FRAMES, dtype=torch.bool)
    truth[RECT] = True
    loud = mask[0::2, 0] > 0.5  # class-1 clips: the rectangle is their evidence
    iou = (loud & truth).flatten(1).sum(1) / (loud | truth).flatten(1).sum(1)
    assert iou.min() >= 0.5, iou
    # and the masked-in clip keeps its decision while the masked-out one loses it
    x_in = (x - FLOOR) * mask + FLOOR
    x_out = (x - FLOOR) * (1 - mask) + FLOOR
    assert (model(x_in[0::2]).argmax(-1) == 1).all()
    assert (model(x_out[0::2]).argmax(-1) == 0).all()


def known_components(n_clips: int = 6, k: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(F_BINS, k)
    for j in range(k):  # distinct, overlapping spectral shapes
        w[4 * j : 4 * j + 6, j] = torch.rand(min(6, F_BINS - 4 * j), generator=gen) + 0.5
    h = torch.rand(n_clips, k, 40, generator=gen) * (
        torch.rand(n_clips, k, 40, generator=gen) > 0.5
    )
    return w, h, (w @ h)[:, None]  # V (N, 1, F, T)


def test_nmf_components_reconstruct_their_input():
    _, _, v = known_components()
    w = learn_dictionary(v, DictionaryConfig(n_components=4, max_iter=1000), seed=0)
    assert w.shape == (F_BINS, 4) and (w >= 0).all()
    torch.testing.assert_close(w.norm(dim=0), torch.ones(4))
    h = activations(w, v, n_iter=500)
    assert (h >= 0).all()
    rel = (w @ h - v[:, 0]).norm() / v.norm()
    assert rel < 0.02, rel
    # every component's ratio mask is in [0, 1] and together they cover the whole input
    masks = component_masks(w, h)
    assert masks.shape == (6, 4, F_BINS, 40)
    assert masks.min() >= 0 and masks.max() <= 1
    covered = (w @ h) > 1e-3
    torch.testing.assert_close(
        masks.sum(1)[covered], torch.ones(int(covered.sum())), atol=1e-3, rtol=0
    )
    # the components' masked inputs add up to the input (the decomposition is exact)
    parts = masks * v  # (N, K, F, T)
    torch.testing.assert_close(parts.sum(1), v[:, 0], atol=2e-2 * float(v.max()), rtol=0)


def test_nmf_dictionary_is_deterministic():
    _, _, v = known_components()
    cfg = DictionaryConfig(n_components=4, max_iter=200)
    assert torch.equal(learn_dictionary(v, cfg, seed=3), learn_dictionary(v, cfg, seed=3))


@pytest.mark.parametrize(
    "threshold,expected", [(0.2, [True, False, True]), (0.9, [True, False, False])]
)
def test_relevance_selection_respects_threshold_and_top_k(threshold, expected):
    r = torch.tensor([[1.0, 0.1, 0.5]])
    assert select(r, threshold=threshold, top_k=5).tolist() == [expected]
    assert select(r, threshold=0.0, top_k=1).tolist() == [[True, False, False]]
