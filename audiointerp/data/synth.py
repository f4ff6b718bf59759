"""The synthetic benchmark: ten ESC-50 classes with ground-truth stems, in the ESC-50 layout.

No data set can be downloaded at run time, so the embedded default data is generated here,
deterministically from a seed, in ESC-50's on-disk layout (``audio/*.wav``,
``meta/esc50.csv``) so the loader that reads real ESC-50 reads it too. Each clip also has its
**stems** -- ``stems/target/<file>`` (the class's sound alone) and
``stems/background/<file>`` (everything else) -- with ``mixture == target + background``
exactly, sample for sample, in the written 16-bit integers (the mixture is written as the sum
of the two quantized stems). From the stems, :mod:`audiointerp.processing.ground_truth`
computes where in time and frequency the class evidence is.

Classes
-------
ESC-50 target id and category (sound model in :mod:`audiointerp.data.synth_sounds`):
rain 10 (hiss + droplets), chirping_birds 14 (fast sweeps), door_wood_knock 30 (low resonant
knocks in groups), crickets 34 (high pulsed tones), clock_alarm 37 (beeping tone),
clock_tick 38 (periodic clicks), siren 42 (swept harmonic tone), car_horn 43 (two-tone
harmonic bursts), engine 44 (low harmonic hum with firing modulation), church_bells 46
(inharmonic decaying partials). Labels are 0..9 in that (target) order.

One clip
--------
1. The target is drawn with per-clip pitch, onset, duration, event count, rhythm and level.
2. The background mixes coloured noise (power ~ 1/f^beta), and with some probability a
   babble-like texture and a room/street ambience (rumble, wind-like band, mains hum). By
   default it never contains another class's target (``distractor_prob=0``).
3. The background is scaled to an SNR drawn uniformly from ``[snr_db_min, snr_db_max]``,
   measured over the samples where the target is active (events are short; a whole-clip SNR
   would make sparse classes inaudible).
4. Audibility guarantee: at least ``min_dominant_energy`` of the target's energy must lie in
   STFT bins (n_fft 512, hop 256) where the target exceeds the background; if not, the SNR is
   raised just enough (``snr_db`` is the final value, ``snr_drawn_db`` the draw). So the
   ground-truth mask of every clip is non-empty and the target is audible somewhere.
5. The mixture's peak is set to ``level_dbfs`` (drawn per clip) and both stems are quantized
   to 16 bit; the mixture is their integer sum.

Difficulty
----------
The aim is a benchmark a small CNN trained on folds 1-3 solves at 85-97 % on fold 5, so that
both right and wrong predictions exist to interpret. The sources of error are designed:
overlapping pitch ranges of confusable pairs (siren/clock_alarm, crickets/chirping_birds,
clock_tick/door_wood_knock, engine vs hum-and-rumble backgrounds, rain vs coloured noise),
and the low-SNR tail. Knobs (:class:`SynthConfig`): ``snr_db_min/max`` (lower = harder),
``min_dominant_energy`` (lower = harder), ``pitch_spread`` (> 1 widens every pitch range and
the overlaps), ``babble_prob``/``ambience_prob``/``hum_prob`` (structured backgrounds are
harder than plain noise), ``distractor_prob`` (adds another class's event to the background).

Metadata
--------
``meta/esc50.csv`` has ESC-50's columns first (filename ``{fold}-{src}-A-{target}.wav``, fold
``i % 5 + 1``, target, category, esc10, src_file, take), then per clip: ``snr_db`` (final
event SNR), ``snr_drawn_db``, ``onset_s``/``offset_s``/``duration_s`` (first event start, last
event end), ``active_s`` (total active time), ``n_events``, ``f0_hz`` (the class's main
frequency: siren centre, horn lower tone, bell strike note, tick/knock resonance, cricket
carrier, first bird's top, rain droplet centre, engine firing rate, alarm tone),
``level_dbfs``, ``dominant_share`` (measured on the written stems), the background's
``bg_colour_beta``/``bg_babble``/``bg_ambience``/``bg_hum_hz``, ``distractor``, ``seed`` and
``params`` (JSON of the class-specific draws). ``meta/synth.yaml`` records the seed, sizes and
the :class:`SynthConfig` used.

Determinism: clip ``i`` of class ``c`` uses ``numpy.random.default_rng([seed, target_id, i])``,
so the output does not depend on generation order and the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from audiointerp.config import save_yaml, to_dict
from audiointerp.data import synth_sounds as snd
from audiointerp.data.io import DEFAULT_DURATION_S, DEFAULT_SR, write_audio
from audiointerp.errors import DatasetError, ParameterError
from audiointerp.validation import check_choice, check_positive

log = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = tuple(snd.TARGETS)  # ordered by ESC-50 target id
ESC10 = {"rain", "clock_tick"}  # the benchmark classes that belong to ESC-10
CHECK_N_FFT, CHECK_HOP = 512, 256  # the audibility check's STFT (= the default frontend's)
FULL_SCALE = 32767  # int16 peak
BASE_COLUMNS = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]


@dataclass
class SynthConfig:
    """Content knobs of the synthetic benchmark (see the module docstring).

    Attributes
    ----------
    snr_db_min, snr_db_max : float
        Range of the uniformly drawn event SNR, dB.
    min_dominant_energy : float
        Share of the target's energy that must lie in target-dominated STFT bins (0-1).
    pitch_spread : float
        Scales the log-width of every class's pitch range around its centre.
    level_dbfs_min, level_dbfs_max : float
        Range of the mixture's peak level, dB full scale (<= -0.1).
    colour_beta_min, colour_beta_max : float
        Range of the background noise's spectral slope (0 white, 1 pink, 2 brown).
    babble_prob, ambience_prob, hum_prob : float
        Probability of a babble-like texture, of a room/street ambience, and of mains hum
        within that ambience.
    distractor_prob : float
        Probability of adding another class's event to the background.
    distractor_rel_db_min, distractor_rel_db_max : float
        Distractor level relative to the target's active power, dB.
    categories : tuple of str
        Classes to generate (a subset of :data:`CATEGORIES`).
    """

    snr_db_min: float = -4.0
    snr_db_max: float = 12.0
    min_dominant_energy: float = 0.3
    pitch_spread: float = 1.0
    level_dbfs_min: float = -6.0
    level_dbfs_max: float = -1.0
    colour_beta_min: float = 0.0
    colour_beta_max: float = 2.0
    babble_prob: float = 0.5
    ambience_prob: float = 0.6
    hum_prob: float = 0.3
    distractor_prob: float = 0.0
    distractor_rel_db_min: float = -12.0
    distractor_rel_db_max: float = -3.0
    categories: tuple[str, ...] = CATEGORIES

    def validate(self) -> SynthConfig:
        """Raise :class:`ParameterError` on inconsistent knobs; return ``self``."""
        for lo, hi in (
            ("snr_db_min", "snr_db_max"),
            ("level_dbfs_min", "level_dbfs_max"),
            ("colour_beta_min", "colour_beta_max"),
            ("distractor_rel_db_min", "distractor_rel_db_max"),
        ):
            if getattr(self, lo) > getattr(self, hi):
                raise ParameterError(f"SynthConfig: {lo} must be <= {hi}")
        if self.level_dbfs_max > -0.1:
            raise ParameterError("SynthConfig: level_dbfs_max must be <= -0.1 (room to quantize)")
        for name in (
            "min_dominant_energy",
            "babble_prob",
            "ambience_prob",
            "hum_prob",
            "distractor_prob",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParameterError(f"SynthConfig: {name} must lie in [0, 1]")
        check_positive("pitch_spread", self.pitch_spread)
        if not self.categories:
            raise ParameterError("SynthConfig: categories is empty")
        for c in self.categories:
            check_choice("category", c, CATEGORIES)
        return self


@dataclass
class RenderedClip:
    """One generated clip: int16 stems and its metadata row."""

    target: np.ndarray  # (N,) int16
    background: np.ndarray  # (N,) int16
    row: dict
    intervals: list[tuple[int, int]] = field(default_factory=list)

    @property
    def mixture(self) -> np.ndarray:
        """``target + background`` as int16 (exact: levels leave headroom)."""
        return (self.target.astype(np.int32) + self.background).astype(np.int16)


def _power_spec(y: np.ndarray) -> np.ndarray:
    """|STFT|^2, (frames, bins); hann, centred with zero padding as the default frontend."""
    pad = np.pad(y, CHECK_N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(pad, CHECK_N_FFT)[::CHECK_HOP]
    win = np.hanning(CHECK_N_FFT + 1)[:-1]  # periodic hann
    return np.abs(np.fft.rfft(frames * win, axis=-1)) ** 2


def dominant_share(target: np.ndarray, background: np.ndarray) -> float:
    """Share of the target's STFT energy in bins where it exceeds the background."""
    pt, pb = _power_spec(target), _power_spec(background)
    return float(pt[pt > pb].sum() / max(pt.sum(), 1e-30))


def audibility_boost(target: np.ndarray, background: np.ndarray, min_share: float) -> float:
    """Smallest gain (dB) on the target so that ``min_share`` of its energy is in bins it
    dominates; 0 when already the case.
    """
    pt, pb = _power_spec(target).ravel(), _power_spec(background).ravel()
    on = pt > 0
    need_db = 10 * np.log10(np.maximum(pb[on], 1e-30) / pt[on])  # boost at which a bin flips
    order = np.argsort(need_db)
    share = np.cumsum(pt[on][order]) / pt[on].sum()
    k = min(int(np.searchsorted(share, min_share)), order.size - 1)
    return max(0.0, float(need_db[order[k]]) + 0.1)


def _background(
    rng: np.random.Generator, cfg: SynthConfig, n: int, sr: int
) -> tuple[np.ndarray, dict]:
    beta = rng.uniform(cfg.colour_beta_min, cfg.colour_beta_max)
    y = rng.uniform(0.3, 1.0) * snd.coloured_noise(rng, n, sr, beta)
    info = {
        "bg_colour_beta": round(beta, 3),
        "bg_babble": False,
        "bg_ambience": False,
        "bg_hum_hz": 0,
    }
    if rng.random() < cfg.babble_prob:
        y += rng.uniform(0.3, 1.0) * snd.babble(rng, n, sr, int(rng.integers(2, 6)))
        info["bg_babble"] = True
    if rng.random() < cfg.ambience_prob:
        hum = int(rng.choice([50, 60])) if rng.random() < cfg.hum_prob else 0
        y += rng.uniform(0.3, 1.0) * snd.ambience(rng, n, sr, hum or None)
        info.update(bg_ambience=True, bg_hum_hz=hum)
    y *= 1 + 0.3 * snd._slow(rng, n, sr, 0.5)  # slow level drift: backgrounds are not stationary
    return y, info


def _active(intervals: list[tuple[int, int]], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s, e in intervals:
        mask[s:e] = True
    return mask


def render_clip(
    category: str,
    index: int,
    *,
    seed: int = 0,
    config: SynthConfig | None = None,
    sr: int = DEFAULT_SR,
    duration_s: float = DEFAULT_DURATION_S,
) -> RenderedClip:
    """Generate clip ``index`` of ``category``; pure and independent of any other clip."""
    cfg = config or SynthConfig()
    target_id, make = snd.TARGETS[check_choice("category", category, CATEGORIES)]
    rng = np.random.default_rng([seed, target_id, index])
    n = int(round(duration_s * sr))
    sound = make(rng, sr, n, cfg.pitch_spread)
    active = _active(sound.intervals, n)
    if not active.any() or not np.any(sound.y[active]):
        raise RuntimeError(f"{category} clip {index} rendered silent; a generator bug")
    t = sound.y / np.sqrt(np.mean(sound.y[active] ** 2))  # unit power where active
    b, bg_info = _background(rng, cfg, n, sr)
    distractor = ""
    if rng.random() < cfg.distractor_prob:
        distractor = str(rng.choice([c for c in CATEGORIES if c != category]))
        other = snd.TARGETS[distractor][1](rng, sr, n, cfg.pitch_spread)
        rel_db = rng.uniform(cfg.distractor_rel_db_min, cfg.distractor_rel_db_max)
        oa = _active(other.intervals, n)
        b += other.y / np.sqrt(np.mean(other.y[oa] ** 2)) * 10 ** (rel_db / 20)
    snr_drawn = rng.uniform(cfg.snr_db_min, cfg.snr_db_max)
    b *= 10 ** (-snr_drawn / 20) / np.sqrt(np.mean(b[active] ** 2))
    boost = audibility_boost(t, b, cfg.min_dominant_energy)
    b *= 10 ** (-boost / 20)
    level = rng.uniform(cfg.level_dbfs_min, cfg.level_dbfs_max)
    gain = 10 ** (level / 20) * FULL_SCALE / np.max(np.abs(t + b))
    tq = np.round(t * gain).astype(np.int16)
    bq = np.round(b * gain).astype(np.int16)
    fold = index % 5 + 1
    src = 1000 * target_id + index
    params = {k: v for k, v in sound.params.items() if k not in ("f0_hz", "n_events")}
    onset = min(s for s, _ in sound.intervals) / sr
    offset = max(e for _, e in sound.intervals) / sr
    row = {
        "filename": f"{fold}-{src}-A-{target_id}.wav",
        "fold": fold,
        "target": target_id,
        "category": category,
        "esc10": category in ESC10,
        "src_file": src,
        "take": "A",
        "snr_db": round(snr_drawn + boost, 3),
        "snr_drawn_db": round(snr_drawn, 3),
        "onset_s": round(onset, 4),
        "offset_s": round(offset, 4),
        "duration_s": round(offset - onset, 4),
        "active_s": round(active.sum() / sr, 4),
        "n_events": int(sound.params.get("n_events", len(sound.intervals))),
        "f0_hz": round(float(sound.params["f0_hz"]), 2),
        "level_dbfs": round(level, 3),
        "dominant_share": round(dominant_share(tq.astype(float), bq.astype(float)), 4),
        **bg_info,
        "distractor": distractor,
        "seed": seed,
        "params": json.dumps(_rounded(params), sort_keys=True),
    }
    return RenderedClip(tq, bq, row, sound.intervals)


def _rounded(d: dict) -> dict:
    return {
        k: round(float(v), 4)
        if isinstance(v, (float, np.floating))
        else (v.item() if isinstance(v, np.generic) else v)
        for k, v in d.items()
    }


def generate_benchmark(
    out_dir: str | Path,
    *,
    seed: int = 0,
    clips_per_class: int = 40,
    sr: int = DEFAULT_SR,
    duration_s: float = DEFAULT_DURATION_S,
    config: SynthConfig | None = None,
    overwrite: bool = False,
    progress: bool = False,
    audio_format: str = "wav",
) -> Path:
    """Write the synthetic benchmark in the ESC-50 layout, with stems.

    Parameters
    ----------
    out_dir : path-like
        Output folder (default location used by the package: ``data/synth``).
    seed : int
        Non-negative seed; the same seed gives byte-identical files.
    clips_per_class : int
        Clips per class (1-999); fold of clip ``i`` is ``i % 5 + 1``.
    sr : int
        Sample rate of the written files, Hz (16-bit PCM).
    duration_s : float
        Clip length, s.
    config : SynthConfig, optional
        Content knobs; defaults reproduce the embedded benchmark.
    overwrite : bool
        Replace an existing benchmark in ``out_dir``.
    progress : bool
        Show a tqdm bar.
    audio_format : {"wav", "flac"}
        File format (both 16-bit PCM; FLAC is lossless and about half the size).

    Returns
    -------
    Path
        ``out_dir``; ``meta/esc50.csv`` is written last, so its presence marks a complete set.
    """
    cfg = (config or SynthConfig()).validate()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    if not 1 <= clips_per_class <= 999:
        raise ParameterError(f"clips_per_class must be in 1..999, got {clips_per_class!r}")
    check_positive("sr", sr)
    check_positive("duration_s", duration_s)
    check_choice("audio_format", audio_format, ("wav", "flac"))
    out = Path(out_dir)
    parts = [out / "audio", out / "stems", out / "meta"]
    if any(p.exists() for p in parts):
        if not overwrite:
            raise DatasetError(
                f"{out} already holds a data set; pass overwrite=True (--overwrite) to replace it"
            )
        for p in parts:
            shutil.rmtree(p, ignore_errors=True)
    jobs = [(c, i) for c in cfg.categories for i in range(clips_per_class)]
    rows = []
    for category, i in tqdm(jobs, desc="synth", disable=not progress, unit="clip"):
        clip = render_clip(category, i, seed=int(seed), config=cfg, sr=sr, duration_s=duration_s)
        if audio_format != "wav":
            clip.row["filename"] = clip.row["filename"].removesuffix(".wav") + f".{audio_format}"
        name = clip.row["filename"]
        write_audio(out / "stems" / "target" / name, clip.target, sr)
        write_audio(out / "stems" / "background" / name, clip.background, sr)
        write_audio(out / "audio" / name, clip.mixture, sr)
        rows.append(clip.row)
    save_yaml(
        {
            "seed": int(seed),
            "clips_per_class": clips_per_class,
            "sr": sr,
            "duration_s": duration_s,
            "config": to_dict(cfg),
        },
        _mkdir(out / "meta") / "synth.yaml",
    )
    df = pd.DataFrame(rows).sort_values("filename", kind="stable")
    df.to_csv(out / "meta" / "esc50.csv", index=False)
    log.info("wrote %d clips (%d classes) to %s", len(df), len(cfg.categories), out)
    return out


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
