"""Listening conditions of the grid: clean, the paper's noise mixing, SNR mixing, a rival event.

A condition is clean, a named noise (white, room, event: files of ``noises_dir``), any noise
file (named by its stem) or every noise file of a folder, each mixed with the paper's alpha
mixing or at an SNR (``_snr<dB>``), or another class's event (``other_class``).

The paper adds a background (white noise, room noise, an event) to each test clip as
``alpha * clip/rms(clip) + (1 - alpha) * noise/rms(noise)``, peak-normalized
(``audiointerp.data.mixing.paper_mix``). For ground-truth metrics the added sound counts as
background: the clip's target stem is scaled exactly as the clip was inside the mixture and the
background stem is the rest, so ``mixture == target + background`` still holds.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiointerp.errors import ParameterError
from audiointerp.paths import repo_path

NOISE_NAMES = ("white", "room", "event")
OTHER_CLASS = "other_class"
_PATTERN = re.compile(r"^(clean|white|room|event|other_class)(?:_snr(-?\d+(?:\.\d+)?))?$")
_SNR_SUFFIX = re.compile(r"^(.*?)_snr(-?\d+(?:\.\d+)?)$")
#: Names a noise file cannot take (they mean something else).
RESERVED = ("clean", OTHER_CLASS)


@dataclass(frozen=True)
class Condition:
    """A parsed condition name.

    Attributes
    ----------
    name : str
        As the tables show it (also the result-folder suffix).
    kind : str
        ``"clean"``, ``"paper"`` (paper mixing), ``"snr"`` (SNR mixing) or ``"other_class"``.
    noise : str or None
        Noise name for ``paper``/``snr``: one of :data:`NOISE_NAMES` (a file
        ``<noises_dir>/<noise>.wav``) or the stem of a noise file.
    snr_db : float or None
        SNR of the clip over the added sound for ``snr`` and ``other_class``.
    file : str or None
        The noise file of a condition given as a file or folder (``None``: ``noises_dir``).
    """

    name: str
    kind: str
    noise: str | None = None
    snr_db: float | None = None
    file: str | None = None

    @property
    def needs_stems(self) -> bool:
        return self.kind == OTHER_CLASS


def parse_condition(name: str, noise_files: Mapping[str, str] | None = None) -> Condition:
    """Parse ``clean``, ``white``/``room``/``event`` (paper mixing), ``<noise>_snr<dB>``,
    ``other_class`` (another class's event at 0 dB) or ``other_class_snr<dB>``.

    ``noise_files`` (``ExperimentConfig.noise_files``: name -> file, made by
    :func:`expand_conditions`) adds the names of noise files, with the same ``_snr<dB>`` suffix.
    """
    files = dict(noise_files or {})
    name = str(name)
    if name in files:
        return Condition(name, "paper", name, None, files[name])
    m = _SNR_SUFFIX.match(name)
    if m and m.group(1) in files:
        return Condition(name, "snr", m.group(1), float(m.group(2)), files[m.group(1)])
    m = _PATTERN.match(name)
    if not m:
        extra = f", a noise file's name ({', '.join(sorted(files))})" if files else ""
        raise ParameterError(
            f"condition {name!r} is not valid; use clean, white, room, event, "
            f"<noise>_snr<dB> (e.g. white_snr10), other_class[_snr<dB>]{extra}, or the path of "
            "a noise file or folder of noise files (optionally with _snr<dB>)"
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


def _noise_files_in(entry: str, path: Path) -> list[Path]:
    from audiointerp.data.io import AUDIO_SUFFIXES

    if path.is_file():
        return [path]
    found = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
    )
    if not found:
        raise ParameterError(
            f"condition {entry!r}: the folder {path} holds no audio file "
            f"({', '.join(AUDIO_SUFFIXES)}); put noise files in it or name a file"
        )
    return found


def expand_conditions(
    entries: Sequence[str], noise_files: Mapping[str, str] | None = None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Turn a config's ``conditions`` into condition names and the noise files they read.

    An entry is a condition name (see :func:`parse_condition`), or the path of a noise file
    (a condition named by the file's stem, mixed with the paper's alpha mixing) or of a folder
    of noise files (one such condition per audio file in it, in name order); a path may end in
    ``_snr<dB>`` for SNR mixing instead (``noises/horse.wav_snr5`` -> ``horse_snr5``). Relative
    paths are taken from the repository root inside a checkout (as in the notebooks,
    :func:`audiointerp.paths.repo_path`), else from the working directory.

    Parameters
    ----------
    entries : sequence of str
        The ``conditions`` as written.
    noise_files : mapping, optional
        Names already known (a saved config's ``noise_files``).

    Returns
    -------
    names : tuple of str
        One per condition, in the order written.
    noise_files : dict of str to str
        Noise name -> file, for the names that are files.

    Raises
    ------
    ParameterError
        An entry that is neither a name nor an existing file or folder; two files with one
        stem; a condition listed twice.
    """
    files = dict(noise_files or {})
    names: list[str] = []
    for entry in map(str, entries):
        try:
            parse_condition(entry, files)
            names.append(entry)
            continue
        except ParameterError:
            if not entry.strip() or _PATTERN.match(entry):
                raise
        base, suffix = entry, ""
        m = _SNR_SUFFIX.match(entry)
        if not repo_path(entry).exists() and m and repo_path(m.group(1)).exists():
            base, suffix = m.group(1), f"_snr{m.group(2)}"
        path = repo_path(base)
        if not path.exists():
            parse_condition(entry, files)  # raises the message that lists the valid names
        for f in _noise_files_in(entry, path):
            stem = f.stem
            if stem in RESERVED or _SNR_SUFFIX.match(stem):
                raise ParameterError(
                    f"condition {entry!r}: noise file {f} cannot be named {stem!r} (it reads as "
                    "another condition); rename the file"
                )
            if stem in files and Path(files[stem]) != f:
                raise ParameterError(
                    f"conditions: two noise files are named {stem!r} ({files[stem]} and {f}); "
                    "conditions are named by file stem, so rename one"
                )
            files[stem] = str(f)
            names.append(stem + suffix)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ParameterError(
            f"conditions: {twice} listed twice (a noise file named like a built-in noise, or a "
            "file given twice); each condition must appear once"
        )
    used = {parse_condition(n, files).noise for n in names}
    return tuple(names), {k: v for k, v in files.items() if k in used}


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

    Read from the condition's noise file, or ``<noises_dir>/<noise>.wav`` for a named noise
    (missing there, it is generated in memory with the seed of the committed files,
    ``audiointerp.data.mixing.load_noise``); resampled, mono, looped or cropped to the clips.
    """
    if cond.noise is None:
        return None
    from audiointerp.data import mixing

    source = cond.file if cond.file is not None else cond.noise
    return mixing.load_noise(source, sr=sr, duration_s=duration_s, noises_dir=noises_dir)


def condition_noise_path(cond: Condition, noises_dir: str | Path) -> Path | None:
    """The file a ``paper``/``snr`` condition reads its noise from (``None`` for the others)."""
    if cond.noise is None:
        return None
    if cond.file is not None:
        return Path(cond.file)
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
