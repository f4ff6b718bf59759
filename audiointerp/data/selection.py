"""Which clips of a data set a run uses: class selection, splits and their balance.

- :func:`select_classes` keeps the clips of some classes and numbers them in the given order
  (``data.classes``; a model trained on them has exactly these outputs).
- :func:`stratified_assignment` is the seeded, class-stratified split of ``data.split``: each
  class's groups (e.g. ESC-50's ``src_file``: clips cut from one recording) are shuffled with a
  seed of their own and dealt to test, validation and training in proportion, so a group never
  straddles two splits and a split does not depend on the file order, the sample rate or the
  other classes.
- :func:`open_split` opens one split of a :class:`~audiointerp.data.config.DataConfig` (folds or
  the stratified split); training, the grid and the methods' training context all call it, so
  they agree on which clip belongs where.
- :func:`split_warnings` says which splits are too small per class to mean much.
"""

from __future__ import annotations

import difflib
import logging
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from audiointerp.data.config import SPLIT_NAMES, DataConfig, SplitConfig
from audiointerp.data.datasets import AudioDataset, Clip, open_dataset
from audiointerp.errors import DatasetError
from audiointerp.validation import check_choice

log = logging.getLogger(__name__)

__all__ = [
    "class_counts",
    "open_split",
    "open_splits",
    "select_classes",
    "split_warnings",
    "stratified_assignment",
]

#: Split codes of :func:`stratified_assignment`.
TRAIN, VALID, TEST = 0, 1, 2


def select_classes(ds: AudioDataset, classes: Sequence[str]) -> AudioDataset:
    """The clips of ``classes`` only, labelled ``0..len(classes)-1`` in that order.

    Raises
    ------
    DatasetError
        A class that the data set does not have (the message lists close names).
    """
    unknown = [c for c in classes if c not in ds.classes]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, ds.classes, n=2)
            hints.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise DatasetError(
            f"{ds.root}: data.classes names {len(unknown)} class(es) it does not have: "
            f"{', '.join(hints)}; its classes are {ds.classes}"
        )
    index = {name: i for i, name in enumerate(classes)}
    clips = [
        Clip(c.id, c.path, index[c.category], c.category, c.fold, c.stems, c.meta)
        for c in ds.clips
        if c.category in index
    ]
    return AudioDataset(
        clips,
        list(classes),
        sr=ds.sr,
        duration_s=ds.duration_s,
        normalize=ds.normalize,
        root=ds.root,
        layout=ds.layout,
        skipped=ds.skipped,
    )


def _group_keys(clips: Sequence[Clip], group_by: str | None, where: str) -> list[str]:
    if group_by is None:
        return [c.id for c in clips]
    missing = [c for c in clips if group_by not in c.meta]
    if missing:
        columns = sorted(missing[0].meta)
        raise DatasetError(
            f"{where}: data.split.group_by={group_by!r} is not a metadata column of clip "
            f"{missing[0].id} (columns: {', '.join(map(str, columns)) or 'none'}); name one of "
            "them (ESC-50: src_file, UrbanSound8K: fsID) or use null to split clip by clip"
        )
    return [str(c.meta[group_by]) for c in clips]


def _counts(n_clips: int, n_groups: int, fraction: float) -> int:
    want = int(round(fraction * n_clips))
    return max(want, 1) if n_groups >= 3 else want


def stratified_assignment(
    clips: Sequence[Clip], split: SplitConfig, *, where: str = "data"
) -> np.ndarray:
    """Split code per clip (0 train, 1 valid, 2 test) of a seeded, class-stratified split.

    Groups (``split.group_by``) belong to the class most of their clips have; each class's
    groups are ordered by name, shuffled with ``(split.seed, class name)`` and dealt to test
    until it holds ``round(test * n)`` clips, then to validation, the rest to training (a
    class with three groups or more puts at least one in each split, and always keeps one for
    training).

    Parameters
    ----------
    clips : sequence of Clip
    split : SplitConfig
    where : str
        Data set name for messages.

    Returns
    -------
    np.ndarray (len(clips),) int8
    """
    keys = _group_keys(clips, split.group_by, where)
    members: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    by_class: dict[str, list[str]] = {}
    for key, idx in members.items():
        votes = Counter(clips[i].category for i in idx)
        top = max(votes.values())
        owner = min(c for c, v in votes.items() if v == top)
        by_class.setdefault(owner, []).append(key)
    out = np.full(len(clips), TRAIN, dtype=np.int8)
    for category in sorted(by_class):
        groups = sorted(by_class[category])
        rng = np.random.default_rng([split.seed, zlib.crc32(category.encode())])
        groups = [groups[i] for i in rng.permutation(len(groups))]
        n = sum(len(members[g]) for g in groups)
        targets = (
            (TEST, _counts(n, len(groups), split.test)),
            (VALID, _counts(n, len(groups), split.valid)),
        )
        position = 0
        for code, target in targets:
            taken = 0
            while taken < target and position < len(groups) - 1:  # keep one for training
                out[members[groups[position]]] = code
                taken += len(members[groups[position]])
                position += 1
    return out


def class_counts(ds: AudioDataset) -> dict[str, int]:
    """Clips per class of ``ds``, every class listed (zeros included), in class order."""
    counts = Counter(c.category for c in ds.clips)
    return {name: counts.get(name, 0) for name in ds.classes}


def _open_all(cfg: DataConfig, *, sr: int, duration_s: float | None, folds) -> AudioDataset:
    ds = open_dataset(
        cfg.root, sr=sr, duration_s=duration_s, folds=folds, esc10=cfg.esc10, layout=cfg.layout
    )
    return select_classes(ds, cfg.classes) if cfg.classes is not None else ds


def open_splits(
    cfg: DataConfig,
    names: Sequence[str] = SPLIT_NAMES,
    *,
    sr: int,
    duration_s: float | None | str = "config",
) -> dict[str, AudioDataset]:
    """Open the splits ``names`` of ``cfg`` (the data set is read once).

    Parameters
    ----------
    cfg : DataConfig
    names : sequence of {"train", "valid", "test"}
    sr : int
        Sample rate clips are loaded at.
    duration_s : float, None or "config"
        Clip length (``"config"``: ``cfg.duration_s``).

    Returns
    -------
    dict of str to AudioDataset
        Every split keeps the full class list (labels agree across splits).
    """
    for name in names:
        check_choice("split", name, SPLIT_NAMES)
    length = cfg.duration_s if duration_s == "config" else duration_s
    if cfg.split is None:
        folds = sorted({f for n in names for f in getattr(cfg, f"{n}_folds")})
        ds = _open_all(cfg, sr=sr, duration_s=length, folds=folds)
        return {n: ds.subset(folds=getattr(cfg, f"{n}_folds")) for n in names}
    ds = _open_all(cfg, sr=sr, duration_s=length, folds=None)
    codes = stratified_assignment(ds.clips, cfg.split, where=str(cfg.root))
    out = {}
    for n in names:
        code = SPLIT_NAMES.index(n)
        out[n] = ds.subset(ids=[c.id for c, k in zip(ds.clips, codes, strict=True) if k == code])
    return out


def open_split(
    cfg: DataConfig, name: str, *, sr: int, duration_s: float | None | str = "config"
) -> AudioDataset:
    """One split of ``cfg`` (see :func:`open_splits`); an empty split is an error."""
    ds = open_splits(cfg, (name,), sr=sr, duration_s=duration_s)[name]
    if not len(ds):
        raise DatasetError(
            f"{cfg.root}: the {name} split ({cfg.describe_split(name)}) has no clips; "
            "set data.split: {valid: 0.15, test: 0.15} for a class-stratified split"
        )
    return ds


def split_warnings(
    splits: Mapping[str, AudioDataset], cfg: DataConfig, *, classes: Sequence[str] | None = None
) -> list[str]:
    """One message per split with fewer than ``cfg.min_per_class`` clips for some class.

    Parameters
    ----------
    splits : mapping of split name to AudioDataset
    cfg : DataConfig
        Supplies ``min_per_class`` and how each split was chosen (for the message).
    classes : sequence of str, optional
        Classes that should be present (default: every class of the data set).

    Returns
    -------
    list of str
        Empty when every split is large enough.
    """
    if cfg.min_per_class <= 0:
        return []
    out = []
    for name, ds in splits.items():
        counts = class_counts(ds)
        wanted = list(classes or ds.classes)
        low = {c: counts.get(c, 0) for c in wanted if counts.get(c, 0) < cfg.min_per_class}
        if not low:
            continue
        shown = ", ".join(f"{c} {k}" for c, k in list(low.items())[:8])
        more = f" and {len(low) - 8} more" if len(low) > 8 else ""
        fix = (
            "use data.split: {valid: 0.15, test: 0.15} (add group_by: src_file for ESC-50) for "
            "a class-stratified split"
            if cfg.split is None
            else "raise data.split fractions or add clips"
        )
        out.append(
            f"{cfg.root}: the {name} split ({cfg.describe_split(name)}) has {len(ds)} clip(s) "
            f"and fewer than {cfg.min_per_class} for {len(low)} of {len(wanted)} classes "
            f"({shown}{more}); accuracy on it means little: {fix}"
        )
    return out
