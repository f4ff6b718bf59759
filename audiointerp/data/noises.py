"""The three background noises of the listening conditions, generated reproducibly.

They stand for the study's three recordings (see ``noises/README.md``):

``"white"``
    Stationary white Gaussian noise.
``"room"``
    Stationary room ambience: pink-to-brown coloured noise, a low rumble, a ventilation-like
    band and 50 Hz mains hum with harmonics.
``"event"``
    A non-stationary, structured distractor standing for the paper's horse recording: hoof
    clops in a three-beat canter rhythm that speeds up, and a whinny (a rising then falling
    harmonic call with fast vibrato and breath noise) in the middle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiointerp.data import synth_sounds as snd
from audiointerp.data.io import peak_normalize, write_audio
from audiointerp.validation import check_choice, check_positive

NOISE_NAMES: tuple[str, ...] = ("white", "room", "event")
NOISE_SEED = 2024  # fixed: the committed noises/*.wav are make_noise(name) at 16 kHz


def _room(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    y = snd.coloured_noise(rng, n, sr, 1.5)
    y += 0.7 * snd._band_noise(rng, n, sr, 20, 150)  # rumble
    y += 0.3 * snd._band_noise(rng, n, sr, 300, 1200)  # ventilation
    hum = snd._harmonics(
        snd._phase(50.0, n, sr, rng), np.array([1.0, 0.5, 0.6, 0.2, 0.3]), 50.0, sr
    )
    return y + 0.8 * hum / np.std(hum)


def _event(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t_end = n / sr
    # Canter: three hoof beats then a pause, the stride shortening from 0.75 s to 0.55 s.
    beats, t = [], 0.1
    while t < t_end:
        stride = 0.75 - 0.2 * t / t_end
        beats += [t, t + 0.12 * stride / 0.6, t + 0.24 * stride / 0.6]
        t += stride
    starts = (np.array([b for b in beats if b < t_end - 0.05]) * sr).astype(int)
    hoof = snd._resonator([280, 750, 1900], [0.02, 0.01, 0.004], [1.0, 0.6, 0.4], sr, 0.12)
    hoof[: int(0.002 * sr)] += 0.5 * rng.standard_normal(int(0.002 * sr))
    y = snd._strike(hoof, starts, rng.uniform(0.5, 1.0, starts.size), n)
    y /= np.std(y) + 1e-12
    # Whinny: 1.4 s, f0 rises 500 -> 900 Hz then falls to 400 Hz, 9 Hz vibrato.
    a, m = int(1.6 * sr), int(1.4 * sr)
    u = np.linspace(0, 1, m)
    f0 = np.interp(u, [0, 0.3, 1], [500, 900, 400]) * (1 + 0.04 * np.sin(2 * np.pi * 9 * u * 1.4))
    call = snd._harmonics(snd._phase(f0, m, sr, rng), 1.0 / np.arange(1, 9), f0, sr)
    call += 0.3 * np.std(call) * snd._band_noise(rng, m, sr, 300, 4000)
    env = np.sin(np.pi * u) ** 0.5 * (1 + 0.5 * np.sin(2 * np.pi * 23 * u * 1.4))  # rough
    y[a : a + m] += 3.0 * env * call / np.std(call)
    return y


def make_noise(
    name: str, *, sr: int = 16000, duration_s: float = 5.0, seed: int = NOISE_SEED
) -> np.ndarray:
    """Generate a named noise, ``(N,)`` float32 peak-normalized to 1.

    Parameters
    ----------
    name : {"white", "room", "event"}
    sr : int
        Sample rate, Hz.
    duration_s : float
        Length, s.
    seed : int
        Seed; the default reproduces the committed files.
    """
    check_choice("name", name, NOISE_NAMES)
    check_positive("sr", sr)
    check_positive("duration_s", duration_s)
    n = int(round(duration_s * sr))
    rng = np.random.default_rng([seed, NOISE_NAMES.index(name)])
    if name == "white":
        y = rng.standard_normal(n)
    elif name == "room":
        y = _room(rng, n, sr)
    else:
        y = _event(rng, n, sr)
    return peak_normalize(y.astype(np.float32))[0]


def write_noises(
    out_dir: str | Path, *, sr: int = 16000, duration_s: float = 5.0, seed: int = NOISE_SEED
) -> list[Path]:
    """Write ``white.wav``, ``room.wav`` and ``event.wav`` (16-bit, peak -1 dBFS) to ``out_dir``."""
    peak = 10 ** (-1 / 20)
    return [
        write_audio(
            Path(out_dir) / f"{name}.wav",
            peak * make_noise(name, sr=sr, duration_s=duration_s, seed=seed),
            sr,
        )
        for name in NOISE_NAMES
    ]
