"""Listening conditions of the grid: clean, the paper's noise mixing, SNR mixing, a rival event.

The paper adds a background (white noise, room noise, an event) to each test clip as
``alpha * clip/rms(clip) + (1 - alpha) * noise/rms(noise)``, peak-normalized
(``audiointerp.data.mixing.paper_mix``). For ground-truth metrics the added sound counts as
background: the clip's target stem is scaled exactly as the clip was inside the mixture and the
background stem is the rest, so ``mixture == target + background`` still holds.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiointerp.errors import ParameterError

NOISE_NAMES = ("white", "room", "event")
OTHER_CLASS = "other_class"
_PATTERN = re.compile(r"^(clean|white|room|event|other_class)(?:_snr(-?\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class Condition:
    """A parsed condition name.

    Attributes
    ----------
    name : str
        As written in the config (also the result-folder suffix).
    kind : str
        ``"clean"``, ``"paper"`` (paper mixing), ``"snr"`` (SNR mixing) or ``"other_class"``.
    noise : str or None
        Noise name for ``paper``/``snr`` (a file ``<noises_dir>/<noise>.wav``).
    snr_db : float or None
        SNR of the clip over the added sound for ``snr`` and ``other_class``.
    """

    name: str
    kind: str
    noise: str | None = None
    snr_db: float | None = None

    @property
    def needs_stems(self) -> bool:
        return self.kind == OTHER_CLASS


def parse_condition(name: str) -> Condition:
    """Parse ``clean``, ``white``/``room``/``event`` (paper mixing), ``<noise>_snr<dB>``,
    ``other_class`` (another class's event at 0 dB) or ``other_class_snr<dB>``.
    """
    m = _PATTERN.match(str(name))
    if not m:
        raise ParameterError(
            f"condition {name!r} is not valid; use clean, white, room, event, "
            "<noise>_snr<dB> (e.g. white_snr10) or other_class[_snr<dB>]"
        )
    base, snr = m.group(1), m.group(2)
    if base == "clean":
        if snr is not None:
            raise ParameterError(f"condition {name!r}: clean takes no SNR")
        return Condition(name, "clean")
    if base == OTHER_CLASS:
        return Condition(name, OTHER_CLASS, None, float(snr) if snr is not None else 0.0)
    if snr is None:
        return Condition(name, "paper", base)
    return Condition(name, "snr", base, float(snr))


@dataclass
class ConditionedBatch:
    """Waves under a condition, with their stems scaled to match (``None`` without stems)."""

    waves: np.ndarray
    target: np.ndarray | None = None
    background: np.ndarray | None = None


def mixing_coefficients(mix: np.ndarray, clip: np.ndarray, added: np.ndarray) -> np.ndarray:
    """Per-row ``(a, b)`` with ``mix = a * clip + b * added`` (least squares, exact for mixing).

    Recovering the coefficients from the mixture keeps this module independent of how
    ``data.mixing`` normalizes (RMS, then peak), so stems always follow the mixture exactly.

    Parameters
    ----------
    mix, clip, added : np.ndarray (B, N)

    Returns
    -------
    np.ndarray (B, 2) float64
    """
    out = np.zeros((mix.shape[0], 2))
    for i in range(mix.shape[0]):
        basis = np.stack([clip[i], added[i]], axis=1).astype(np.float64)
        out[i] = np.linalg.lstsq(basis, mix[i].astype(np.float64), rcond=None)[0]
    return out


def apply_condition(
    cond: Condition,
    waves: np.ndarray,
    *,
    added: np.ndarray | None = None,
    target: np.ndarray | None = None,
    background: np.ndarray | None = None,
    alpha: float = 0.6,
) -> ConditionedBatch:
    """Put a batch of clips under ``cond``.

    Parameters
    ----------
    cond : Condition
    waves : np.ndarray (B, N) float32
        Clean clips.
    added : np.ndarray (N,) or (B, N), optional
        The sound to add (noise, or each clip's rival event); required unless clean.
    target, background : np.ndarray (B, N), optional
        Stems of the clean clips (``waves == target + background``).
    alpha : float
        The paper's clip weight.

    Returns
    -------
    ConditionedBatch
    """
    waves = np.asarray(waves, dtype=np.float32)
    if cond.kind == "clean":
        return ConditionedBatch(waves, target, background)
    if added is None:
        raise ParameterError(f"condition {cond.name!r} needs the sound to add (added=...)")
    from audiointerp.data import mixing

    added = np.broadcast_to(np.asarray(added, dtype=np.float32), waves.shape).copy()
    if cond.kind == "paper":
        mix = mixing.paper_mix(waves, added, alpha=alpha)
    else:
        mix = mixing.mix_at_snr(waves, added, cond.snr_db, normalize=True)
    if isinstance(mix, tuple):
        mix = mix[0]
    mix = np.asarray(mix, dtype=np.float32)
    if target is None:
        return ConditionedBatch(mix)
    a = mixing_coefficients(mix, waves, added)[:, :1].astype(np.float32)
    target = a * target
    return ConditionedBatch(mix, target, mix - target)


def load_condition_noise(
    cond: Condition, *, noises_dir: str | Path, sr: int, duration_s: float
) -> np.ndarray | None:
    """The noise of a ``paper``/``snr`` condition, ``(N,)`` (``None`` for the others).

    Read from ``<noises_dir>/<noise>.wav``; a missing named noise is generated in memory with
    the seed of the committed files (``audiointerp.data.mixing.load_noise``).
    """
    if cond.noise is None:
        return None
    from audiointerp.data import mixing

    return mixing.load_noise(cond.noise, sr=sr, duration_s=duration_s, noises_dir=noises_dir)


def condition_noise_path(cond: Condition, noises_dir: str | Path) -> Path | None:
    """The file a ``paper``/``snr`` condition reads its noise from (``None`` for the others)."""
    if cond.noise is None:
        return None
    return Path(noises_dir) / f"{cond.noise}.wav"


def rival_indices(labels: np.ndarray, ids: list[str], *, seed: int) -> np.ndarray:
    """For each clip, the index of a clip of another class (seeded by clip id, not by order).

    Parameters
    ----------
    labels : np.ndarray (M,) int
        Labels of the pool of candidate clips (the evaluated clips themselves).
    ids : list of str
        Their ids.
    seed : int

    Returns
    -------
    np.ndarray (M,) int
    """
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ParameterError("condition other_class needs clips of at least two classes")
    out = np.empty(len(labels), dtype=np.int64)
    for i, clip_id in enumerate(ids):
        rng = np.random.default_rng([seed, zlib.crc32(clip_id.encode())])
        others = sorted(np.flatnonzero(labels != labels[i]), key=lambda j: ids[j])
        out[i] = others[rng.integers(len(others))]
    return out
