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
mixing, noises
    Mixing at an SNR, the paper's mixing, the three background noises.
interference
    Interference sets: each clip mixed with another class's event, stems kept.
inspect
    :func:`inspect_dataset`, the report behind ``audiointerp info``.
samples
    The committed example clips and the study's six ESC-50 examples.
"""

from __future__ import annotations

from audiointerp.data.datasets import AudioDataset, Clip, open_dataset
from audiointerp.data.inspect import DatasetReport, inspect_dataset
from audiointerp.data.interference import write_interference_set
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
from audiointerp.data.mixing import (
    NOISE_NAMES,
    interference_mix,
    load_noise,
    mix_at_snr,
    paper_mix,
)
from audiointerp.data.synth import CATEGORIES, SynthConfig, generate_benchmark

__all__ = [
    "CATEGORIES",
    "DEFAULT_DURATION_S",
    "DEFAULT_SR",
    "NOISE_NAMES",
    "AudioDataset",
    "Clip",
    "DatasetReport",
    "SynthConfig",
    "audio_info",
    "detect_layout",
    "generate_benchmark",
    "inspect_dataset",
    "interference_mix",
    "load_audio",
    "load_audio_gain",
    "load_noise",
    "mix_at_snr",
    "open_dataset",
    "paper_mix",
    "peak_normalize",
    "write_audio",
    "write_interference_set",
]
