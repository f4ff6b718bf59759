"""Labelled clip collections: :func:`open_dataset` and :class:`AudioDataset`.

One class serves every layout (:mod:`audiointerp.data.layouts`): ESC-50 (and the synthetic
benchmark, which is written in that layout with stems), UrbanSound8K, a folder per class and a
CSV manifest. Opening a data set checks every listed file's header (``check="full"`` also
reads the samples); unusable files either raise (``on_error="raise"``) or are left out,
logged and recorded in :attr:`AudioDataset.skipped` (``on_error="skip"``).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from torch.utils.data import Dataset

from audiointerp.data.io import (
    DEFAULT_DURATION_S,
    DEFAULT_SR,
    audio_info,
    load_audio_gain,
    scan_audio,
)
from audiointerp.data.layouts import LAYOUTS, Catalog, detect_layout, read_catalog
from audiointerp.errors import AudioFileError, DatasetError, ParameterError
from audiointerp.validation import check_choice, check_positive

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
Check = Literal["header", "full"]


@dataclass(frozen=True)
class Clip:
    """One labelled clip.

    Attributes
    ----------
    id : str
        File stem (``"1-100032-A-0"``); made unique with the relative folder when stems repeat.
    path : Path
        Audio file.
    label : int
        Index into the data set's ``classes``.
    category : str
        Class name.
    fold : int or None
        Cross-validation fold, where the layout has folds.
    stems : dict of str to Path
        ``{"target": ..., "background": ...}`` for the synthetic benchmark, else ``{}``.
    meta : dict
        The metadata row (ESC-50's ``target``, ``src_file``, ``take``; the benchmark's
        ``snr_db``, ``onset_s``...).
    """

    id: str
    path: Path
    label: int
    category: str
    fold: int | None
    stems: dict[str, Path] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


class AudioDataset(Dataset):
    """Clips of one data set, loaded on demand as mono float32 at a fixed rate and length.

    Build it with :func:`open_dataset`. ``ds[i]`` is ``(wave (N,), label, clip_id)``.
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        classes: Sequence[str],
        *,
        sr: int = DEFAULT_SR,
        duration_s: float | None = DEFAULT_DURATION_S,
        normalize: bool = True,
        root: Path | None = None,
        layout: str = "esc50",
        skipped: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.clips: list[Clip] = list(clips)
        self.classes: list[str] = list(classes)
        self.sr = int(sr)
        self.duration_s = duration_s
        self.normalize = normalize
        self.root = root
        self.layout = layout
        self.skipped: list[tuple[str, str]] = list(skipped)
        self._index: dict[str, int] = {}
        for i, c in enumerate(self.clips):
            self._index.setdefault(c.id, i)
            self._index.setdefault(c.path.name, i)

    def __repr__(self) -> str:
        return (
            f"AudioDataset({self.layout}, {len(self)} clips, {len(self.classes)} classes, "
            f"sr={self.sr}, skipped={len(self.skipped)}, root={self.root})"
        )

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def has_stems(self) -> bool:
        """Whether every clip has target and background stems."""
        return bool(self.clips) and all(c.stems for c in self.clips)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every clip, shape (len,), int64."""
        return np.array([c.label for c in self.clips], dtype=np.int64)

    def _load(self, path: Path, *, gain: float | None = None) -> tuple[np.ndarray, float]:
        return load_audio_gain(
            path, sr=self.sr, duration_s=self.duration_s, normalize=self.normalize, gain=gain
        )

    def __getitem__(self, i: int) -> tuple[np.ndarray, int, str]:
        clip = self.clips[i]
        return self._load(clip.path)[0], clip.label, clip.id

    def load_gain(self, i: int) -> tuple[np.ndarray, float]:
        """Clip ``i``'s wave and the gain that peak normalization applied to it."""
        return self._load(self.clips[i].path)

    def load_batch(self, indices: Iterable[int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Load several clips.

        Returns
        -------
        waves : np.ndarray, float32, shape (B, N)
        labels : np.ndarray, int64, shape (B,)
        ids : list of str
        """
        indices = [int(i) for i in indices]
        if self.duration_s is None and len(indices) > 1:
            raise ParameterError("load_batch needs a fixed duration_s (clips differ in length)")
        waves = [self[i][0] for i in indices]
        n = int(round((self.duration_s or 0) * self.sr)) if not waves else waves[0].shape[-1]
        out = np.stack(waves) if waves else np.zeros((0, n), np.float32)
        labels = np.array([self.clips[i].label for i in indices], dtype=np.int64)
        return out, labels, [self.clips[i].id for i in indices]

    def load_stems(self, i: int) -> dict[str, np.ndarray]:
        """Clip ``i``'s stems, each scaled by the mixture's gain so that
        ``ds[i][0] == stems["target"] + stems["background"]`` (to float rounding).

        Returns
        -------
        dict of str to np.ndarray, float32, shape (N,)

        Raises
        ------
        DatasetError
            The clip has no stems.
        """
        clip = self.clips[i]
        if not clip.stems:
            raise DatasetError(
                f"clip {clip.id} has no stems; only the synthetic benchmark "
                f"(`audiointerp synth`) and interference mixtures provide them"
            )
        _, gain = self._load(clip.path)
        return {name: self._load(p, gain=gain)[0] for name, p in clip.stems.items()}

    def subset(
        self,
        *,
        folds: Iterable[int] | None = None,
        categories: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> AudioDataset:
        """Clips matching every given filter; classes and labels stay those of ``self``."""
        keep = self.clips
        if folds is not None:
            fs = set(_folds(folds))
            keep = [c for c in keep if c.fold in fs]
        if categories is not None:
            cats = set(categories)
            for c in cats:
                check_choice("category", c, self.classes)
            keep = [c for c in keep if c.category in cats]
        if ids is not None:
            wanted = {self.clips[self.index_of(x)].id for x in ids}
            keep = [c for c in keep if c.id in wanted]
        return AudioDataset(
            keep,
            self.classes,
            sr=self.sr,
            duration_s=self.duration_s,
            normalize=self.normalize,
            root=self.root,
            layout=self.layout,
            skipped=self.skipped,
        )

    def random_clip(
        self, rng: np.random.Generator | int | None = None, category: str | None = None
    ) -> int:
        """Index of a random clip, optionally of one class.

        Parameters
        ----------
        rng : numpy Generator or int seed, optional
        category : str, optional
            Class name.
        """
        rng = np.random.default_rng(rng)
        pool = range(len(self))
        if category is not None:
            check_choice("category", category, self.classes)
            pool = [i for i, c in enumerate(self.clips) if c.category == category]
        if not len(pool):
            what = f"of class {category!r} " if category is not None else ""
            raise DatasetError(f"data set {self.root} has no clip {what}to draw from")
        return int(pool[int(rng.integers(len(pool)))])

    def index_of(self, name: str | Path) -> int:
        """Index of a clip given its id, file name or path."""
        key = Path(name).name
        for k in (str(name), Path(str(name)).with_suffix("").as_posix(), key, Path(key).stem):
            if k in self._index:
                return self._index[k]
        close = difflib.get_close_matches(Path(key).stem, [c.id for c in self.clips], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ParameterError(f"no clip named {str(name)!r} in {self.root}{hint}")


def _folds(folds: Iterable[int] | int) -> list[int]:
    folds = [folds] if isinstance(folds, (int, np.integer)) else list(folds)
    for f in folds:
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)):
            raise ParameterError(f"folds must be integers, got {f!r}")
    return [int(f) for f in folds]


def _check_file(path: Path, check: str) -> str | None:
    try:
        if check == "full":
            scan_audio(path)
        else:
            audio_info(path)
    except AudioFileError as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None


def _unique_ids(cat: Catalog) -> list[str]:
    ids = [e.path.stem for e in cat.entries]
    if len(set(ids)) == len(ids):
        return ids
    # Same stem in two folders (folder/manifest layouts): fall back to the relative path.
    return [e.path.relative_to(cat.root).with_suffix("").as_posix() for e in cat.entries]


def open_dataset(
    root: str | Path,
    *,
    sr: int = DEFAULT_SR,
    duration_s: float | None = DEFAULT_DURATION_S,
    folds: Iterable[int] | int | None = None,
    esc10: bool = False,
    layout: str = "auto",
    on_error: OnError = "raise",
    normalize: bool = True,
    classes: Sequence[str] | None = None,
    check: Check = "header",
) -> AudioDataset:
    """Open a labelled data set folder.

    Parameters
    ----------
    root : path-like
        Data set folder (or a manifest CSV file).
    sr : int
        Sample rate clips are resampled to, Hz.
    duration_s : float or None
        Clip length clips are cropped or zero-padded to; ``None`` keeps each file's length.
    folds : int or iterable of int, optional
        Keep only these folds.
    esc10 : bool
        ESC-50 only: keep the ESC-10 subset (rows with ``esc10 == True``); labels are
        renumbered 0..9 in target order.
    layout : {"auto", "esc50", "urbansound8k", "folder", "manifest"}
    on_error : {"raise", "skip"}
        What to do with an unusable metadata row or file: raise :class:`DatasetError`, or
        leave it out, log a warning and record ``(path, reason)`` in ``.skipped``.
    normalize : bool
        Peak-normalize each clip.
    classes : sequence of str, optional
        Fix the class list (e.g. a checkpoint's); clips of other classes are errors.
        Default: from the metadata, ordered by class id (folder/manifest: sorted names).
    check : {"header", "full"}
        Validate each file's header at opening, or read all of its samples (finds NaN/Inf).

    Returns
    -------
    AudioDataset
    """
    check_positive("sr", sr)
    if duration_s is not None:
        check_positive("duration_s", duration_s)
    check_choice("layout", layout, ("auto", *LAYOUTS))
    check_choice("on_error", on_error, ("raise", "skip"))
    check_choice("check", check, ("header", "full"))
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    cat = read_catalog(root, layout=layout, esc10=esc10, classes=classes)
    if folds is not None:
        fs = set(_folds(folds))
        present = {e.fold for e in cat.entries}
        unknown = sorted(fs - present)
        if unknown:
            have = sorted(f for f in present if f is not None)
            raise DatasetError(
                f"{root}: no clip in fold(s) {unknown} (asked for folds {sorted(fs)}); folds "
                f"present: {have or 'none, this layout has no folds'}; choose among them"
            )
        cat.entries = [e for e in cat.entries if e.fold in fs]
    for p, r in cat.warnings:
        log.warning("%s: %s", p, r)
    problems = list(cat.problems)
    entries = []
    for e in cat.entries:
        reason = _check_file(e.path, check)
        if reason is None:
            entries.append(e)
        else:
            problems.append((str(e.path), reason))
    if problems and on_error == "raise":
        listed = "\n  ".join(f"{p}: {r}" for p, r in problems[:5])
        more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise DatasetError(
            f"{root}: {len(problems)} unusable clip(s):\n  {listed}{more}\n"
            f"fix or remove them (`audiointerp info {root}` lists all); from Python, "
            "open_dataset(..., on_error='skip') leaves them out"
        )
    for p, r in problems:
        log.warning("skipping %s: %s", p, r)
    cat.entries = entries
    index = {name: i for i, name in enumerate(cat.classes)}
    clips = [
        Clip(cid, e.path, index[e.category], e.category, e.fold, e.stems, e.meta)
        for cid, e in zip(_unique_ids(cat), cat.entries, strict=True)
    ]
    if not clips:
        if not problems:
            raise DatasetError(
                f"{root}: the metadata lists no clip (a header without rows?); add a row per "
                f"clip, or check the folder with `audiointerp info {root}`"
            )
        raise DatasetError(
            f"{root}: no usable clip ({len(problems)} skipped); `audiointerp info {root}` lists why"
        )
    if problems:
        log.warning("%s: skipped %d unusable clip(s), kept %d", root, len(problems), len(clips))
    return AudioDataset(
        clips,
        cat.classes,
        sr=sr,
        duration_s=duration_s,
        normalize=normalize,
        root=cat.root,
        layout=layout,
        skipped=problems,
    )
