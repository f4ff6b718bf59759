"""Inspect a data set before training on it (``audiointerp info``).

:func:`inspect_dataset` reads a folder's metadata with the same readers as
:func:`~audiointerp.data.open_dataset`, checks every listed file, and summarizes what it
found: clips per class and fold, sample rates, channels, sample formats, durations, and every
file that cannot be used with the reason.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiointerp.data.io import AUDIO_SUFFIXES, audio_info, scan_audio
from audiointerp.data.layouts import detect_layout, read_catalog
from audiointerp.errors import AudioFileError
from audiointerp.validation import check_choice


@dataclass
class DatasetReport:
    """What :func:`inspect_dataset` found."""

    root: Path
    layout: str
    classes: list[str]
    per_class: Counter = field(default_factory=Counter)
    per_fold: Counter = field(default_factory=Counter)
    sample_rates: Counter = field(default_factory=Counter)
    channels: Counter = field(default_factory=Counter)
    subtypes: Counter = field(default_factory=Counter)
    durations_s: list[float] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    has_stems: bool = False

    @property
    def n_usable(self) -> int:
        return sum(self.per_class.values())

    def format(self, *, max_listed: int | None = None) -> str:
        """Human-readable report (``max_listed`` caps the problem list; ``None`` lists all)."""
        out = [
            f"data set  {self.root}",
            f"layout    {self.layout}"
            + ("  (with target/background stems)" if self.has_stems else ""),
            f"clips     {self.n_usable} usable, {len(self.problems)} unusable, "
            f"{len(self.classes)} classes",
        ]
        width = max([len(c) for c in self.classes] + [5])
        out.append("\nclips per class")
        for c in self.classes:
            out.append(f"  {c:<{width}}  {self.per_class.get(c, 0)}")
        if any(f is not None for f in self.per_fold):
            out.append("clips per fold")
            for f in sorted(k for k in self.per_fold if k is not None):
                out.append(f"  fold {f:<3} {self.per_fold[f]}")

        def hist(counter: Counter, unit: str = "") -> str:
            return ", ".join(f"{k}{unit}: {v}" for k, v in sorted(counter.items()))

        out.append(f"sample rates  {hist(self.sample_rates, ' Hz')}")
        out.append(f"channels      {hist(self.channels)}")
        out.append(f"formats       {hist(self.subtypes)}")
        if self.durations_s:
            d = np.array(self.durations_s)
            out.append(
                f"durations     min {d.min():.3f} s, median {np.median(d):.3f} s, "
                f"max {d.max():.3f} s"
            )
        for title, items in (("unusable files", self.problems), ("warnings", self.warnings)):
            if items:
                out.append(f"\n{title} ({len(items)})")
                shown = items if max_listed is None else items[:max_listed]
                out += [f"  {p}: {r}" for p, r in shown]
                if len(shown) < len(items):
                    out.append(f"  ... and {len(items) - len(shown)} more")
        if self.problems:
            out.append(f"\n{len(self.problems)} problem(s) found")
        else:
            out.append("\nOK" + (f" ({len(self.warnings)} warning(s))" if self.warnings else ""))
        return "\n".join(out)


def inspect_dataset(
    root: str | Path, *, layout: str = "auto", check: str = "full", esc10: bool = False
) -> DatasetReport:
    """Check every clip of a data set and summarize it.

    Parameters
    ----------
    root : path-like
        Data set folder or manifest CSV.
    layout : {"auto", "esc50", "urbansound8k", "folder", "manifest"}
    check : {"full", "header"}
        Read every sample (finds NaN/Inf and silent files) or only the headers.
    esc10 : bool
        ESC-50 only: inspect the ESC-10 subset.

    Returns
    -------
    DatasetReport
        ``problems`` lists unusable rows/files; ``warnings`` lists silent files and audio
        files in the data folder that the metadata does not list.
    """
    check_choice("check", check, ("full", "header"))
    root = Path(root)
    layout = detect_layout(root) if layout == "auto" else layout
    cat = read_catalog(root, layout=layout, esc10=esc10)
    rep = DatasetReport(
        cat.root, layout, cat.classes, problems=list(cat.problems), warnings=list(cat.warnings)
    )
    rep.has_stems = bool(cat.entries) and all(e.stems for e in cat.entries)
    for e in cat.entries:
        try:
            if check == "full":
                info, silent = scan_audio(e.path)  # block by block: long files fit in memory
                if silent:
                    rep.warnings.append((str(e.path), "silent: every sample is zero"))
            else:
                info = audio_info(e.path)
        except AudioFileError as exc:
            rep.problems.append((str(e.path), str(exc).removeprefix(f"{e.path}: ")))
            continue
        rep.per_class[e.category] += 1
        rep.per_fold[e.fold] += 1
        rep.sample_rates[info.sr] += 1
        rep.channels[info.channels] += 1
        rep.subtypes[info.subtype] += 1
        rep.durations_s.append(info.duration_s)
    if layout in ("esc50", "urbansound8k") and (cat.root / "audio").is_dir():
        listed = {e.path for e in cat.entries} | {Path(p) for p, _ in cat.problems}
        for p in sorted((cat.root / "audio").rglob("*")):
            if p.suffix.lower() in AUDIO_SUFFIXES and Path(os.path.abspath(p)) not in listed:
                what = (
                    "a folder named like an audio file, not a clip"
                    if p.is_dir()
                    else "not listed in the metadata"
                )
                rep.warnings.append((str(p), f"{what} (ignored)"))
    if not rep.n_usable:
        listed = len(cat.entries) + len(cat.problems)
        rep.problems.append(
            (
                str(cat.root),
                "no usable clip"
                + (
                    f": all {listed} listed clips are unusable"
                    if listed
                    else ": the metadata lists no clip (a header without rows?); add a row per clip"
                ),
            )
        )
    return rep


__all__ = ["DatasetReport", "inspect_dataset"]
