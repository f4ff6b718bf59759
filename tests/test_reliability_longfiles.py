"""Regression corpus, long files: a clip reads only the frames it needs (bit-identical to
reading everything), and the full check of ``info`` scans in blocks. Memory itself is
measured by ``benchmarks/bench_long_file.py`` (a 5 s clip of a one-hour 44.1 kHz file: peak
2.3 GiB reading everything, 5 MiB above the interpreter reading the part); here the frames
read are counted."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiointerp.data.io import (
    fix_length,
    frames_needed,
    load_audio,
    peak_normalize,
    resample,
    scan_audio,
    to_mono,
)
from audiointerp.errors import AudioFileError


def _long(path, sr, seconds, channels=2, subtype="PCM_16"):
    rng = np.random.default_rng(sr)
    y = 0.2 * rng.standard_normal((int(sr * seconds), channels))
    sf.write(str(path), y.astype(np.float32), sr, subtype=subtype)
    return path


@pytest.mark.parametrize("file_sr", [8000, 16000, 22050, 44100, 48000, 96000])
def test_partial_read_equals_reading_everything(tmp_path, file_sr):
    path = _long(tmp_path / f"long_{file_sr}.wav", file_sr, seconds=12.0)
    for sr, duration_s in ((16000, 5.0), (32000, 2.37)):
        got = load_audio(path, sr=sr, duration_s=duration_s)
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
        whole = resample(to_mono(np.ascontiguousarray(data.T)), orig_sr=file_sr, target_sr=sr)
        want, _ = peak_normalize(fix_length(whole, int(round(duration_s * sr))))
        np.testing.assert_array_equal(got, want)


def test_only_the_needed_frames_are_read(tmp_path, monkeypatch):
    path = _long(tmp_path / "long.wav", 44100, seconds=30.0, channels=1)
    asked = []
    real_read = sf.SoundFile.read

    def counting(self, frames=-1, *args, **kwargs):
        out = real_read(self, frames, *args, **kwargs)
        asked.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting)
    y = load_audio(path, sr=16000, duration_s=5.0)
    assert y.shape == (80000,)
    assert asked == [frames_needed(80000, file_sr=44100, target_sr=16000)]
    assert asked[0] < 6 * 44100  # a bit over 5 s of a 30 s file
    asked.clear()
    load_audio(path, sr=44100, duration_s=5.0)  # no resampling: exactly the clip
    assert asked == [5 * 44100]
    asked.clear()
    load_audio(path, sr=16000, duration_s=None)  # no duration: the whole file, on purpose
    assert asked == [30 * 44100]


def test_short_files_are_padded_as_before(tmp_path):
    path = _long(tmp_path / "short.wav", 22050, seconds=1.0)
    y = load_audio(path, sr=16000, duration_s=5.0)
    assert y.shape == (80000,) and not np.any(y[20000:])


def test_scan_checks_every_block_in_bounded_memory(tmp_path, monkeypatch):
    path = tmp_path / "late_nan.wav"
    y = np.zeros(50000, np.float32)
    y[-3] = np.nan
    sf.write(str(path), y, 16000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="1 sample\\(s\\) are NaN or Inf"):
        scan_audio(path, block_frames=4096)
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(50000, np.float32), 16000)
    assert scan_audio(silent, block_frames=4096).silent
    sizes = []
    real_blocks = sf.SoundFile.blocks

    def blocks(self, blocksize=None, *args, **kwargs):
        for block in real_blocks(self, blocksize, *args, **kwargs):
            sizes.append(len(block))
            yield block

    monkeypatch.setattr(sf.SoundFile, "blocks", blocks)
    loud = _long(tmp_path / "loud.wav", 16000, seconds=3.0)
    result = scan_audio(loud, block_frames=4096)
    assert not result.silent and result.info.frames == 48000
    assert max(sizes) == 4096 and sum(sizes) == 48000
