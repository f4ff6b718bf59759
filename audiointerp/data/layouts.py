"""On-disk data set layouts: find the clips, their labels and folds, without reading audio.

Each reader turns a folder into a :class:`Catalog` -- the class list, one :class:`Entry` per
usable metadata row and a list of ``(path, reason)`` problems for rows that cannot be used.
Readers never assume what a particular copy of a data set happens to look like: file names
are not parsed, rows are not assumed sorted, ids need not be contiguous, and the class list
comes from the metadata's ``(id, name)`` pairs, ordered by id.

Layouts
-------
``"esc50"``
    ``meta/esc50.csv`` (filename, fold, target, category, esc10, src_file, take, extra
    columns kept in ``meta``) and ``audio/<filename>``. The synthetic benchmark adds
    ``stems/target/<filename>`` and ``stems/background/<filename>``.
``"urbansound8k"``
    ``metadata/UrbanSound8K.csv`` (slice_file_name, fsID, start, end, salience, fold,
    classID, class) and ``audio/fold<k>/<slice_file_name>``.
``"folder"``
    ``<root>/<class name>/**/<clip>.<wav|flac|ogg|...>``; no folds.
``"manifest"``
    A CSV file (``root`` itself, or ``<root>/manifest.csv``) with columns ``path, label`` and
    optionally ``fold``; paths relative to the CSV's folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from audiointerp.data.io import AUDIO_SUFFIXES, resolve_within
from audiointerp.errors import AudioInterpError, DatasetError

log = logging.getLogger(__name__)

Layout = Literal["esc50", "urbansound8k", "folder", "manifest"]
LAYOUTS: tuple[str, ...] = ("esc50", "urbansound8k", "folder", "manifest")
ESC50_CSV = Path("meta") / "esc50.csv"
US8K_CSV = Path("metadata") / "UrbanSound8K.csv"
MANIFEST_CSV = "manifest.csv"
STEM_NAMES = ("target", "background")


@dataclass(frozen=True)
class Entry:
    """One clip listed by the metadata (its file not yet checked)."""

    path: Path
    category: str
    fold: int | None
    stems: dict[str, Path] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


@dataclass
class Catalog:
    """What a layout reader found."""

    layout: str
    root: Path
    classes: list[str]
    entries: list[Entry]
    problems: list[tuple[str, str]]


def detect_layout(root: str | Path) -> str:
    """Name the layout of ``root`` (see module docstring).

    Raises
    ------
    DatasetError
        Nothing recognizable at ``root``.
    """
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return "manifest"
    if not root.is_dir():
        raise DatasetError(f"data set {root} does not exist (expected a folder or a CSV manifest)")
    if (root / ESC50_CSV).is_file():
        return "esc50"
    if (root / US8K_CSV).is_file():
        return "urbansound8k"
    if (root / MANIFEST_CSV).is_file():
        return "manifest"
    if _class_folders(root):
        return "folder"
    raise DatasetError(
        f"cannot tell the layout of {root}: expected {ESC50_CSV} (ESC-50), {US8K_CSV} "
        f"(UrbanSound8K), {MANIFEST_CSV} (path,label[,fold]) or one subfolder of audio per class"
    )


def read_catalog(
    root: str | Path,
    *,
    layout: str,
    esc10: bool = False,
    classes: Sequence[str] | None = None,
) -> Catalog:
    """Read a data set's metadata with the reader for ``layout`` (not ``"auto"``)."""
    root = Path(root)
    if esc10 and layout != "esc50":
        raise DatasetError(f"esc10=True needs the ESC-50 layout, but {root} is {layout!r}")
    if layout == "esc50":
        return _read_esc50(root, esc10=esc10, classes=classes)
    if layout == "urbansound8k":
        return _read_us8k(root, classes=classes)
    if layout == "folder":
        return _read_folder(root, classes=classes)
    return _read_manifest(root, classes=classes)


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(df.columns)}"
        )
    return df


def _parse_value(text: str) -> object:
    """Metadata cell -> int, float, bool or str (pandas would type whole columns at once)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("True", "False"):
        return text == "True"
    return text


def _class_map(df: pd.DataFrame, id_col: str, name_col: str, csv: Path) -> dict[int, str]:
    """``{class id: class name}`` from every row whose id parses, checking it is one-to-one."""
    ids = pd.to_numeric(df[id_col], errors="coerce")
    pairs = pd.DataFrame({"id": ids, "name": df[name_col]}).dropna().drop_duplicates()
    pairs["id"] = pairs["id"].astype(int)
    for key, other in (("id", "name"), ("name", "id")):
        dup = pairs[pairs.duplicated(key, keep=False)]
        if len(dup):
            k = dup.iloc[0][key]
            vals = sorted(map(str, dup[dup[key] == k][other]))
            raise DatasetError(
                f"{csv}: {id_col}/{name_col} disagree: {key} {k!r} appears with {other}s "
                f"{', '.join(vals)}; fix the metadata"
            )
    return dict(sorted(zip(pairs["id"], pairs["name"], strict=True)))


def _int(text: str, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DatasetError(f"{column} {text!r} is not an integer") from None


def _label_problem(category: str, classes: Sequence[str]) -> str | None:
    if category in classes:
        return None
    return f"label {category!r} is not in the class list ({len(classes)} classes)"


def _check_classes(found: list[str], classes: Sequence[str] | None) -> list[str]:
    return list(found) if classes is None else list(classes)


def _read_esc50(root: Path, *, esc10: bool, classes: Sequence[str] | None) -> Catalog:
    csv = root / ESC50_CSV
    df = _read_csv(csv, ["filename", "fold", "target", "category"] + (["esc10"] if esc10 else []))
    if esc10:
        df = df[df["esc10"].str.strip().str.lower().isin(["true", "1"])]
        if not len(df):
            raise DatasetError(f"{csv}: no row has esc10 == True; cannot select ESC-10")
    class_map = _class_map(df, "target", "category", csv)
    class_list = _check_classes(list(class_map.values()), classes)
    audio = root / "audio"
    has_stems = (root / "stems").is_dir()
    entries, problems = [], []
    for row in df.to_dict("records"):
        name = row["filename"]
        try:
            path = resolve_within(audio, name)
            fold = _int(row["fold"], "fold")
            _int(row["target"], "target")
        except AudioInterpError as exc:
            problems.append((str(audio / name), str(exc)))
            continue
        reason = _label_problem(row["category"], class_list)
        if reason:
            problems.append((str(path), reason))
            continue
        stems = {}
        if has_stems:
            cand = {s: resolve_within(root / "stems" / s, name) for s in STEM_NAMES}
            if all(p.is_file() for p in cand.values()):
                stems = cand
        meta = {k: _parse_value(v) for k, v in row.items()}
        entries.append(Entry(path, row["category"], fold, stems, meta))
    return Catalog("esc50", root, class_list, entries, problems)


def _read_us8k(root: Path, *, classes: Sequence[str] | None) -> Catalog:
    csv = root / US8K_CSV
    df = _read_csv(csv, ["slice_file_name", "fold", "classID", "class"])
    class_list = _check_classes(list(_class_map(df, "classID", "class", csv).values()), classes)
    audio = root / "audio"
    entries, problems = [], []
    for row in df.to_dict("records"):
        name = row["slice_file_name"]
        try:
            fold = _int(row["fold"], "fold")
            _int(row["classID"], "classID")
            path = resolve_within(audio, Path(f"fold{fold}") / name)
        except AudioInterpError as exc:
            problems.append((str(audio / f"fold{row['fold']}" / name), str(exc)))
            continue
        reason = _label_problem(row["class"], class_list)
        if reason:
            problems.append((str(path), reason))
            continue
        meta = {k: _parse_value(v) for k, v in row.items()}
        entries.append(Entry(path, row["class"], fold, {}, meta))
    return Catalog("urbansound8k", root, class_list, entries, problems)


def _is_audio(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")


def _class_folders(root: Path) -> list[Path]:
    dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    return [d for d in dirs if any(_is_audio(p) for p in d.rglob("*"))]


def _read_folder(root: Path, *, classes: Sequence[str] | None) -> Catalog:
    folders = _class_folders(root)
    if not folders:
        raise DatasetError(f"{root}: no subfolder holds audio files ({', '.join(AUDIO_SUFFIXES)})")
    class_list = _check_classes([d.name for d in folders], classes)
    entries, problems = [], []
    for d in folders:
        reason = _label_problem(d.name, class_list)
        for p in sorted(q for q in d.rglob("*") if _is_audio(q)):
            if reason:
                problems.append((str(p), reason))
            else:
                entries.append(Entry(p, d.name, None, {}, {"path": str(p.relative_to(root))}))
    return Catalog("folder", root, class_list, entries, problems)


def _read_manifest(root: Path, *, classes: Sequence[str] | None) -> Catalog:
    csv = root if root.is_file() else root / MANIFEST_CSV
    base = csv.parent
    df = _read_csv(csv, ["path", "label"])
    labels = sorted({lab for lab in df["label"] if lab})
    class_list = _check_classes(labels, classes)
    entries, problems = [], []
    for i, row in enumerate(df.to_dict("records")):
        where = f"{csv} row {i + 2}"
        try:
            path = resolve_within(base, row["path"])
            fold = _int(row["fold"], "fold") if row.get("fold", "") != "" else None
        except AudioInterpError as exc:
            problems.append((f"{where} ({row['path']})", str(exc)))
            continue
        reason = _label_problem(row["label"], class_list)
        if reason:
            problems.append((str(path), reason))
            continue
        meta = {k: _parse_value(v) for k, v in row.items()}
        entries.append(Entry(path, row["label"], fold, {}, meta))
    return Catalog("manifest", base, class_list, entries, problems)
