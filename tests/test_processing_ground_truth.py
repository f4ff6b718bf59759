"""Ground-truth masks from stems."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiointerp.errors import ParameterError
from audiointerp.processing import FrontendConfig, build_frontend, ideal_mask

SR = 16000


def tone_over_noise(freq: float = 1000.0, start_s: float = 1.0, stop_s: float = 2.0):
    n = 3 * SR
    t = np.arange(n) / SR
    # 50 ms raised-cosine ramps: a hard gate would click, and a click is broadband target.
    ramp = np.clip(np.minimum(t - start_s, stop_s - t) / 0.05, 0.0, 1.0)
    tone = 0.5 * np.sin(2 * np.pi * freq * t) * np.sin(0.5 * np.pi * ramp) ** 2
    noise = 0.05 * np.random.default_rng(0).standard_normal(n)
    return (
        torch.from_numpy(tone.astype(np.float32))[None],
        torch.from_numpy(noise.astype(np.float32))[None],
    )


@pytest.mark.parametrize("kind", ["stft", "mel"])
def test_tone_over_noise(kind):
    fe = build_frontend(FrontendConfig(kind=kind))
    target, background = tone_over_noise()
    mask = ideal_mask(fe, target, background)
    assert mask.shape == (1, 1, fe.n_bins, fe.n_frames(3 * SR)) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    m = mask[0, 0].numpy().astype(bool)
    freqs = fe.bin_frequencies_hz()
    band = int(np.abs(freqs - 1000.0).argmin())
    times = fe.frame_times_s(m.shape[1])
    reach = fe.config.n_fft / 2 / SR + 0.05  # half a window either side, plus the ramps
    during = (times > 1.0 + reach) & (times < 2.0 - reach)
    outside = (times < 1.0 - reach) | (times > 2.0 + reach)
    assert m[band, during].all()
    assert not m[:, outside].any()
    # The Hann main lobe spans +-2 STFT bins (+-62.5 Hz), about +-1.4 mel bands near 1 kHz.
    far = np.abs(np.arange(fe.n_bins) - band) > 2
    assert not m[far].any()


def test_threshold_and_range():
    fe = build_frontend(FrontendConfig())
    target, background = tone_over_noise()
    base = ideal_mask(fe, target, background)
    strict = ideal_mask(fe, target, background, threshold_db=30.0)
    assert strict.sum() < base.sum() and torch.all(strict <= base)
    narrow = ideal_mask(fe, target, background, range_db=3.0)
    assert 0 < narrow.sum() < base.sum() and torch.all(narrow <= base)
    # A target that never dominates, or is silent, has no ground truth anywhere.
    assert ideal_mask(fe, 0.01 * background, background).sum() == 0
    assert ideal_mask(fe, torch.zeros_like(target), background).sum() == 0
    # Batched equals one at a time.
    both = ideal_mask(fe, torch.cat([target, background]), torch.cat([background, target]))
    torch.testing.assert_close(both[:1], base)


def test_bad_input():
    fe = build_frontend(FrontendConfig())
    target, background = tone_over_noise()
    with pytest.raises(ParameterError):
        ideal_mask(fe, target, background[:, :SR])
    with pytest.raises(ParameterError):
        ideal_mask(fe, target[0], background[0])
    with pytest.raises(ParameterError):
        ideal_mask(fe, target, background, range_db=0)
    with pytest.raises(ParameterError):
        ideal_mask(fe, target.numpy(), background)


def test_benchmark_clips_mask_recovers_target(synth_root):
    """On the synthetic benchmark, keeping the ideal mask brings the mixture closer to its target."""
    from audiointerp.data.datasets import open_dataset
    from audiointerp.processing import snr_db

    ds = open_dataset(synth_root, sr=SR, duration_s=5.0)
    idx = [0, len(ds) // 2, len(ds) - 1]
    stems = [ds.load_stems(i) for i in idx]
    target = torch.from_numpy(np.stack([s["target"] for s in stems]))
    background = torch.from_numpy(np.stack([s["background"] for s in stems]))
    mixture = target + background
    for kind in ("mel", "stft"):
        fe = build_frontend(FrontendConfig(kind=kind))
        mask = ideal_mask(fe, target, background)
        assert torch.all(mask.mean(dim=(1, 2, 3)) > 0)
        kept = fe.resynthesize(fe.analyze(mixture), mask)
        assert torch.all(snr_db(kept, target) > snr_db(mixture, target) + 1.0)
