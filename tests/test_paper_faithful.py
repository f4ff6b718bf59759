"""The study's procedure, rule by rule, on hand-computed cases; the paper configs select it.

Each difference between the reproduced study's code and this project's defaults has an
option: LIME's fill, the ``topK_k_pos`` rule, the STFT model's setting, the mel filterbank,
the STFT padding, SpecAugment, and the ``paper`` inversion route.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.experiments.grid.config import load_experiment
from audiointerp.interpretation import get_method
from audiointerp.interpretation.masks import STUDY_MASK_NAMES, make_masks
from audiointerp.interpretation.perturbation import perturbed_probs, segment_means
from audiointerp.models import load_train_config
from audiointerp.models.augment import mask_fill_value, spec_augment
from audiointerp.processing import FrontendConfig, build_frontend
from audiointerp.processing.inversion import inverse_mel_lstsq
from audiointerp.processing.mel import nnls

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class Recorder(nn.Module):
    """Returns constant logits and keeps every input it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.bias.expand(x.shape[0], 2)


# --- LIME: each removed segment takes its own mean (lime_image's hide_color=None) -----------
def test_segment_mean_fill_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])  # (1, 1, 2, 2)
    seg = torch.tensor([[[0, 0], [1, 1]]])  # top row = segment 0, bottom row = segment 1
    means = segment_means(x, seg, 2)
    torch.testing.assert_close(means, torch.tensor([[1.5, 4.5]]))
    keep = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (B=1, K=2, S=2)
    model = Recorder()
    perturbed_probs(model, x, seg, keep, torch.tensor([0]), fill=means, batch_size=8)
    seen = torch.cat(model.seen)[:, 0]
    torch.testing.assert_close(seen[0], torch.tensor([[1.0, 2.0], [4.5, 4.5]]))
    torch.testing.assert_close(seen[1], torch.tensor([[1.5, 1.5], [3.0, 6.0]]))
    model.seen.clear()  # the project's fill: removed segments go to the floor
    perturbed_probs(model, x, seg, keep, torch.tensor([0]), fill=-100.0, batch_size=8)
    torch.testing.assert_close(
        torch.cat(model.seen)[0, 0], torch.tensor([[1.0, 2.0], [-100.0, -100.0]])
    )
    with pytest.raises(ParameterError, match="per-segment"):
        perturbed_probs(model, x, seg, keep, torch.tensor([0]), fill=means[:, :1], batch_size=8)


def test_lime_hide_option_changes_what_removed_segments_become():
    x = torch.randn(2, 1, 6, 8, generator=torch.Generator().manual_seed(0)) * 10 - 40
    opts = {"n_samples": 16, "segmentation": "grid", "n_freq": 2, "n_time": 2, "batch_size": 7}
    model = Recorder().eval()
    get_method("lime", hide="segment_mean", **opts).attribute(model, x[:1], 0)
    seen = torch.cat(model.seen)[:, 0]
    # every perturbed input keeps the clip's segment means: a removed cell is constant at the
    # mean of that cell of the clip, a kept cell is the clip itself
    cells = [(slice(0, 3), slice(0, 4)), (slice(0, 3), slice(4, 8)),
             (slice(3, 6), slice(0, 4)), (slice(3, 6), slice(4, 8))]  # fmt: skip
    for inp in seen:
        for f, t in cells:
            block, orig = inp[f, t], x[0, 0][f, t]
            assert torch.equal(block, orig) or torch.allclose(
                block, orig.mean().expand_as(block), atol=1e-5
            )
    assert get_method("lime").hide == "floor"  # the project's default
    with pytest.raises(ParameterError, match="hide.*'mean'"):
        get_method("lime", hide="mean")


# --- topK_k_pos: the study's quantile rule vs the project's -----------------------------------
def test_topk_pos_rules_by_hand():
    # 20 bins, 5 positive (25 %): fewer than k = 30 % and 50 % of the bins are positive
    a = torch.cat([-torch.arange(1.0, 16.0), torch.arange(1.0, 6.0)]).reshape(1, 1, 4, 5)
    m = make_masks(a, ["topK_30_pos", "topK_30_pos_study", "topK_50_pos_study", "topK_5_pos",
                       "topK_5_pos_study"])  # fmt: skip
    assert float(m["topK_30_pos"].sum()) == 5  # the project's: the 5 positive bins
    assert float(m["topK_30_pos_study"].sum()) == 20  # the study's: quantile 0, all ones
    assert float(m["topK_50_pos_study"].sum()) == 20
    # k = 5 %: A+ = [0]*15 + 1..5, 0.95 quantile = 4 + 0.05 = 4.05 -> only the bin 5, both
    assert torch.equal(m["topK_5_pos"], m["topK_5_pos_study"])
    assert float(m["topK_5_pos_study"].sum()) == 1 and float(m["topK_5_pos_study"][a == 5]) == 1
    # enough positives: 12 of 20, 0.5 quantile of [0]*8 + 1..12 is 2.5 -> 10 bins, both rules
    b = torch.cat([-torch.arange(1.0, 9.0), torch.arange(1.0, 13.0)]).reshape(1, 1, 4, 5)
    mb = make_masks(b, ["topK_50_pos", "topK_50_pos_study"])
    assert float(mb["topK_50_pos"].sum()) == 10 and torch.equal(
        mb["topK_50_pos"], mb["topK_50_pos_study"]
    )
    assert STUDY_MASK_NAMES == ("topK_5_pos_study", "topK_30_pos_study", "topK_50_pos_study")
    with pytest.raises(ParameterError, match="topK_10_pos_study"):
        make_masks(a, ["topK_10_pos_study"])


# --- the mel filterbank: HTK scale, unit-peak triangles (torchaudio's default) ----------------
def test_htk_unnormalised_filterbank_by_hand():
    cfg = FrontendConfig(kind="mel", sr=16000, n_fft=512, n_mels=4, fmin=0.0, fmax=8000.0,
                         htk=True, mel_norm=None)  # fmt: skip
    fb = build_frontend(cfg)._fb_np  # (4, 257)

    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    pts = hz(np.linspace(mel(0.0), mel(8000.0), 6))  # band edges and centres in Hz
    freqs = np.arange(257) * 16000 / 512
    for i in range(4):
        rise = (freqs - pts[i]) / (pts[i + 1] - pts[i])
        fall = (pts[i + 2] - freqs) / (pts[i + 2] - pts[i + 1])
        np.testing.assert_allclose(fb[i], np.maximum(0, np.minimum(rise, fall)), atol=1e-12)
    # band 0 rises from 0 Hz to 458.73 Hz: at 93.75 Hz (bin 3) its weight is 0.2044
    assert pts[1] == pytest.approx(458.73, abs=0.01)
    assert fb[0, 3] == pytest.approx(93.75 / pts[1], rel=1e-9) and fb[0, 3] == pytest.approx(
        0.2044, abs=1e-4
    )
    assert fb.max(axis=1) == pytest.approx(np.ones(4), abs=0.06)  # unit peaks, not unit area
    slaney_area = build_frontend(cfg.replace(mel_norm="slaney"))._fb_np
    inside = fb[0] > 0  # Slaney's area normalisation scales each triangle by 2 / its width
    np.testing.assert_allclose(
        slaney_area[0][inside] / fb[0][inside], 2.0 / (pts[2] - pts[0]), rtol=1e-9
    )


# --- padding: reflect (the study's torchaudio default) vs zeros -------------------------------
def test_reflect_padding_by_hand():
    y = torch.arange(8.0, dtype=torch.float64)[None]  # 0 1 2 ... 7
    base = {"kind": "stft", "log": False, "power": 1.0, "sr": 8000, "n_fft": 4,
            "win_length": 4, "hop_length": 2, "window": "boxcar"}  # fmt: skip
    dc = {
        mode: build_frontend(FrontendConfig(**base, pad_mode=mode)).stft(y)[0, 0, 0].real.item()
        for mode in ("reflect", "constant")
    }
    # frame 0 is centred on sample 0: reflect pads [2, 1 | 0, 1], zeros pad [0, 0 | 0, 1]
    assert dc == {"reflect": pytest.approx(4.0), "constant": pytest.approx(1.0)}


# --- SpecAugment: one band of up to 10 bins and one of up to 20 frames, zero fill -----------
def test_spec_augment_zero_fill_one_band_each():
    assert mask_fill_value("zero", -100.0) == 0.0
    assert mask_fill_value("floor", -100.0) == -100.0 and mask_fill_value("mean", -100.0) is None
    with pytest.raises(ParameterError, match="mask_fill"):
        mask_fill_value("noise", -100.0)
    x = torch.full((64, 1, 40, 60), -50.0)
    out = spec_augment(x, freq_mask=10, time_mask=20, n_freq_masks=1, n_time_masks=1,
                       generator=torch.Generator().manual_seed(0), fill=0.0)  # fmt: skip
    assert set(out.unique().tolist()) <= {0.0, -50.0}
    masked = out[:, 0] == 0.0  # (B, F, T)
    rows = masked.all(dim=2)  # frequency band: whole rows
    cols = masked.all(dim=1)  # time band: whole columns
    for b in range(64):
        for band, limit in ((rows[b], 10), (cols[b], 20)):
            idx = torch.nonzero(band)[:, 0]
            assert len(idx) <= limit
            if len(idx):  # one contiguous band
                assert int(idx[-1] - idx[0]) + 1 == len(idx)
        assert torch.equal(masked[b], rows[b][:, None] | cols[b][None, :])
    assert rows.any(dim=1).float().mean() > 0.5 and cols.any(dim=1).float().mean() > 0.5


# --- the paper route: clamped minimum-norm least squares on the frontend's filterbank --------
def test_inverse_mel_lstsq_by_hand():
    fb = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    S = torch.tensor([[3.0], [0.0]], dtype=torch.float64)
    pinv = torch.linalg.pinv(fb)
    # min-norm solution of fb x = S is (2, 1, -1); the study clamps it to (2, 1, 0)
    torch.testing.assert_close(pinv @ S, torch.tensor([[2.0], [1.0], [-1.0]], dtype=fb.dtype))
    torch.testing.assert_close(
        inverse_mel_lstsq(pinv, S), torch.tensor([[2.0], [1.0], [0.0]], dtype=fb.dtype)
    )
    # NNLS (the project's paper_nnls) finds the exact non-negative solution (3, 0, 0)
    torch.testing.assert_close(
        nnls(fb, S, n_iter=500), torch.tensor([[3.0], [0.0], [0.0]], dtype=fb.dtype), atol=1e-3,
        rtol=0,
    )  # fmt: skip
    # the same as torch's least squares (gelsd: minimum norm), clamped
    lstsq = torch.linalg.lstsq(fb, S, driver="gelsd").solution.clamp_min(0)
    torch.testing.assert_close(inverse_mel_lstsq(pinv, S), lstsq)


def test_paper_route_is_the_clamped_least_squares_pipeline():
    cfg = FrontendConfig(kind="mel", htk=True, mel_norm=None, pad_mode="reflect", n_mels=32)
    fe = build_frontend(cfg)
    y = torch.randn(1, 8000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spec = fe.analyze(y)
    mask = torch.rand(spec.features.shape, generator=torch.Generator().manual_seed(1)).double()
    out = fe.resynthesize(spec, mask, route="paper")
    # by hand: mask the dB features towards the floor, to power, clamped pinv, ISTFT
    X = (spec.features - fe.floor_db) * mask + fe.floor_db
    S = 10.0 ** (X[:, 0] / 10.0)
    fb = torch.as_tensor(fe._fb_np)
    lin = (torch.linalg.pinv(fb) @ S).clamp_min(0)
    ref = fe.istft(torch.polar(lin.sqrt(), spec.phase), spec.length)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-9)
    assert not torch.allclose(out, fe.resynthesize(spec, mask, route="paper_nnls"))


# --- the paper configs select the study's choices --------------------------------------------
@pytest.mark.parametrize("kind", ["mel", "stft"])
def test_paper_train_configs_select_the_study(kind):
    cfg = load_train_config(CONFIGS / f"paper_esc50_{kind}.yaml")
    fc, tc = cfg.frontend, cfg.train
    assert fc.pad_mode == "reflect"
    assert fc.htk is True and fc.mel_norm is None
    assert (tc.n_freq_masks, tc.freq_mask, tc.n_time_masks, tc.time_mask) == (1, 10, 1, 20)
    assert tc.mask_fill == "zero"
    if kind == "stft":  # the study's STFT model: 16 kHz, 512 / 256 -> 257 bins
        assert (fc.sr, fc.n_fft, fc.win_length, fc.hop_length) == (16000, 512, 512, 256)
        assert fc.n_bins == 257
    else:
        assert (fc.sr, fc.n_fft, fc.hop_length, fc.n_mels) == (32000, 1024, 320, 64)


def test_paper_experiment_selects_the_study():
    cfg = load_experiment(CONFIGS / "experiment_paper_esc50.yaml")
    assert cfg.methods["lime"]["hide"] == "segment_mean"
    assert cfg.methods["lime"].get("segmentation", "quickshift") == "quickshift"
    assert cfg.methods["lime"]["n_samples"] == 1000
    assert set(STUDY_MASK_NAMES) <= set(cfg.masks)
    assert not {"topK_5_pos", "topK_30_pos", "topK_50_pos"} & set(cfg.masks)
    assert len(cfg.masks) == 14
    assert cfg.resynth_route == "paper"
