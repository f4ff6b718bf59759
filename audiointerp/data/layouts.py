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
    source: str = ""  # where it is listed: "meta/esc50.csv row 7", or "" for a folder scan


@dataclass
class Catalog:
    """What a layout reader found.

    Attributes
    ----------
    problems : list of (str, str)
        ``(path or row, reason)`` of every listed clip that cannot be used (loaders raise on
        them or leave them out).
    warnings : list of (str, str)
        What was usable but not as listed: a clip listed twice with the same label and fold
        (kept once), files in the data folders the reader skipped (not an audio format, a
        folder named like an audio file).
    """

    layout: str
    root: Path
    classes: list[str]
    entries: list[Entry]
    problems: list[tuple[str, str]]
    warnings: list[tuple[str, str]] = field(default_factory=list)


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
        cat = _read_esc50(root, esc10=esc10, classes=classes)
    elif layout == "urbansound8k":
        cat = _read_us8k(root, classes=classes)
    elif layout == "folder":
        cat = _read_folder(root, classes=classes)
    else:
        cat = _read_manifest(root, classes=classes)
    return _dedupe(cat)


def _dedupe(cat: Catalog) -> Catalog:
    """One entry per file: a file listed twice with the same label and fold is kept once
    (a warning); listed with different labels or folds, every listing is a problem, since
    there is no way to tell which one is right."""
    groups: dict[Path, list[Entry]] = {}
    for e in cat.entries:
        groups.setdefault(e.path, []).append(e)
    if all(len(g) == 1 for g in groups.values()):
        return cat
    entries = []
    for path, group in groups.items():
        if len(group) == 1:
            entries.append(group[0])
            continue
        where = ", ".join(e.source or "a scan" for e in group)
        labels = sorted({(e.category, e.fold) for e in group}, key=str)
        if len(labels) == 1:
            entries.append(group[0])
            cat.warnings.append((str(path), f"listed {len(group)} times ({where}); counted once"))
        else:
            shown = "; ".join(
                f"label {c!r}" + ("" if f is None else f" fold {f}") for c, f in labels
            )
            cat.problems.append(
                (
                    str(path),
                    f"listed {len(group)} times with different labels or folds ({shown}; "
                    f"{where}); keep the one right row in the metadata",
                )
            )
    cat.entries = entries
    return cat


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except PermissionError:
        raise DatasetError(
            f"{path}: cannot be read: permission denied; make it readable (chmod u+r {path})"
        ) from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, not a metadata CSV file") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(
            f"{path}: is empty; it needs a header ({', '.join(required)}) and a row per clip"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
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
    for i, row in enumerate(df.to_dict("records")):
        name = row["filename"]
        source = f"{ESC50_CSV} row {i + 2}"
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
        entries.append(Entry(path, row["category"], fold, stems, meta, source))
    return Catalog("esc50", root, class_list, entries, problems)


def _read_us8k(root: Path, *, classes: Sequence[str] | None) -> Catalog:
    csv = root / US8K_CSV
    df = _read_csv(csv, ["slice_file_name", "fold", "classID", "class"])
    class_list = _check_classes(list(_class_map(df, "classID", "class", csv).values()), classes)
    audio = root / "audio"
    entries, problems = [], []
    for i, row in enumerate(df.to_dict("records")):
        name = row["slice_file_name"]
        source = f"{US8K_CSV} row {i + 2}"
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
        entries.append(Entry(path, row["class"], fold, {}, meta, source))
    return Catalog("urbansound8k", root, class_list, entries, problems)


def _is_audio(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")


def _class_folders(root: Path) -> list[Path]:
    dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    return [d for d in dirs if any(_is_audio(p) for p in d.rglob("*"))]


def _skip_reason(p: Path) -> str | None:
    """Why a path inside a class folder is not taken as a clip: ``None`` for a clip, ``""``
    for a plain subfolder (scanned, no warning), else the reason it is skipped."""
    if p.is_dir():
        if p.suffix.lower() in AUDIO_SUFFIXES:
            return "a folder named like an audio file, skipped"
        return ""  # ordinary subfolder: its files are scanned
    if p.suffix.lower() not in AUDIO_SUFFIXES:
        formats = ", ".join(AUDIO_SUFFIXES)
        return f"{p.suffix or 'no suffix'}: not an audio format read here ({formats}); skipped"
    return None


def _read_folder(root: Path, *, classes: Sequence[str] | None) -> Catalog:
    folders = _class_folders(root)
    if not folders:
        raise DatasetError(f"{root}: no subfolder holds audio files ({', '.join(AUDIO_SUFFIXES)})")
    class_list = _check_classes([d.name for d in folders], classes)
    entries, problems, warnings = [], [], []
    for d in folders:
        reason = _label_problem(d.name, class_list)
        for p in sorted(d.rglob("*")):
            if any(part.startswith(".") for part in p.relative_to(d).parts):
                continue
            skip = _skip_reason(p)
            if skip:
                warnings.append((str(p), skip))
            elif skip is None and reason:
                problems.append((str(p), reason))
            elif skip is None:
                entries.append(Entry(p, d.name, None, {}, {"path": str(p.relative_to(root))}))
    for p in sorted(root.iterdir()):
        if p.name.startswith(".") or p in folders:
            continue
        if p.is_dir():
            warnings.append((str(p), "folder without audio files: not a class, skipped"))
        elif p.suffix.lower() in AUDIO_SUFFIXES:
            warnings.append((str(p), "audio file outside the class folders, skipped"))
    return Catalog("folder", root, class_list, entries, problems, warnings)


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
        entries.append(Entry(path, row["label"], fold, {}, meta, f"{csv.name} row {i + 2}"))
    return Catalog("manifest", base, class_list, entries, problems)
