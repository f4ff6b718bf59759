"""Audio I/O, labelled data sets, the synthetic benchmark with ground truth, noise and mixtures.

The bottom layer of the package: everything above it receives mono float32 waveforms at one
sample rate and a fixed length, integer labels and stable string ids.

Modules
-------
io
    :func:`load_audio` (read, mix down, resample, fix length, peak-normalize), writing, path checks.
layouts
    Metadata readers for the ESC-50, UrbanSound8K, folder-per-class and CSV-manifest layouts.
datasets
    :func:`open_dataset` and :class:`AudioDataset` (a torch ``Dataset``) with bad-file handling.
synth
    :func:`generate_benchmark`: the embedded synthetic ESC-50-style benchmark with stems.
mixing
    Mixing at an SNR, the paper's mixing, the three background noises, interference mixtures.
"""

from __future__ import annotations

from audiointerp.data.datasets import AudioDataset, Clip, open_dataset
from audiointerp.data.io import (
    DEFAULT_DURATION_S,
    DEFAULT_SR,
    audio_info,
    load_audio,
    load_audio_gain,
    peak_normalize,
    write_audio,
)
from audiointerp.data.layouts import detect_layout

__all__ = [
    "DEFAULT_DURATION_S",
    "DEFAULT_SR",
    "AudioDataset",
    "Clip",
    "audio_info",
    "detect_layout",
    "load_audio",
    "load_audio_gain",
    "open_dataset",
    "peak_normalize",
    "write_audio",
]
