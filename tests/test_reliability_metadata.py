"""Regression corpus, metadata: duplicated rows, files under two labels, empty metadata,
unknown folds, skipped files and unreadable files are reported (``info``) and refused or
deduplicated with a warning (loaders), never silently miscounted."""

from __future__ import annotations

import csv
import errno
import logging
import os

import numpy as np
import pytest
import soundfile as sf

from audiointerp import cli
from audiointerp.data import open_dataset
from audiointerp.data.inspect import inspect_dataset
from audiointerp.errors import AudioFileError, DatasetError


def _rows(root):
    with open(root / "meta" / "esc50.csv", newline="") as fh:
        return list(csv.reader(fh))


def _write_rows(root, rows):
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


@pytest.fixture
def esc50(esc50_factory):
    return esc50_factory(folds=(1, 2), seconds=1.0, sr=16000)


def test_duplicated_rows_are_counted_once_with_a_warning(esc50, caplog):
    rows = _rows(esc50)
    n = len(rows) - 1
    _write_rows(esc50, rows + rows[1:3])  # two rows listed twice, same label and fold
    rep = inspect_dataset(esc50, check="header")
    assert rep.n_usable == n and not rep.problems
    dups = [r for _, r in rep.warnings if "listed 2 times" in r]
    assert len(dups) == 2 and f"row {n + 2}" in dups[0]
    assert rep.format().endswith("OK (2 warning(s))")
    with caplog.at_level(logging.WARNING):
        ds = open_dataset(esc50, sr=16000, duration_s=1.0)
    assert len(ds) == n  # not n + 2
    assert sum("counted once" in r.message for r in caplog.records) == 2


def test_file_listed_under_two_labels_is_refused(esc50):
    rows = _rows(esc50)
    other = next(r for r in rows[1:] if r[3] != rows[1][3])
    twin = list(rows[1])
    twin[2], twin[3] = other[2], other[3]
    _write_rows(esc50, rows + [twin])
    rep = inspect_dataset(esc50, check="header")
    assert len(rep.problems) == 1 and "different labels" in rep.problems[0][1]
    assert rep.format().endswith("1 problem(s) found")
    with pytest.raises(DatasetError, match=r"listed 2 times with different labels") as err:
        open_dataset(esc50, sr=16000, duration_s=1.0)
    assert rows[1][0] in str(err.value)
    ds = open_dataset(esc50, sr=16000, duration_s=1.0, on_error="skip")
    assert rows[1][0] not in {c.path.name for c in ds.clips}


def test_manifest_with_one_file_under_two_labels(tmp_path, tone):
    tone(tmp_path / "a.wav")
    tone(tmp_path / "b.wav")
    (tmp_path / "manifest.csv").write_text("path,label\na.wav,dog\na.wav,cat\nb.wav,cat\n")
    with pytest.raises(DatasetError, match=r"a\.wav: listed 2 times .*manifest\.csv row 2"):
        open_dataset(tmp_path)
    assert cli.main(["info", str(tmp_path), "--quick"]) == 1


def test_header_only_metadata_is_an_error_not_ok(tmp_path, capsys):
    (tmp_path / "meta").mkdir()
    (tmp_path / "audio").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text("filename,fold,target,category\n")
    rep = inspect_dataset(tmp_path)
    assert rep.problems and "lists no clip" in rep.problems[0][1]
    assert not rep.format().endswith("OK")
    assert cli.main(["info", str(tmp_path)]) == 1
    with pytest.raises(DatasetError, match="the metadata lists no clip"):
        open_dataset(tmp_path)
    (tmp_path / "meta" / "esc50.csv").write_text("")
    assert cli.main(["info", str(tmp_path)]) == 2
    assert "esc50.csv: is empty; it needs a header" in capsys.readouterr().err


def test_unknown_folds_are_an_error(esc50, capsys):
    with pytest.raises(DatasetError, match=r"no clip in fold\(s\) \[9\].*folds present: \[1, 2\]"):
        open_dataset(esc50, folds=[1, 9])
    assert len(open_dataset(esc50, folds=[1, 2])) == 6
    ckpt = "weights/default_mel.pt"
    argv = ["evaluate", "--weights", ckpt, "--data", str(esc50), "--folds", "2", "9"]
    assert cli.main(argv) == 2
    assert "no clip in fold(s) [9]" in capsys.readouterr().err


def test_folder_layout_lists_what_it_skips(tmp_path, tone):
    tone(tmp_path / "dog" / "a.wav")
    tone(tmp_path / "cat" / "b.flac")
    (tmp_path / "cat" / "dir.wav").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("x")
    (tmp_path / "cat" / ".hidden.wav").write_bytes(b"")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.md").write_text("x")
    tone(tmp_path / "stray.wav")
    if "MP3" in sf.available_formats():
        sf.write(tmp_path / "cat" / "c.mp3", np.zeros(8000, np.float32) + 0.1, 16000)
    rep = inspect_dataset(tmp_path)
    warned = {os.path.relpath(p, tmp_path): r for p, r in rep.warnings}
    assert "a folder named like an audio file" in warned["cat/dir.wav"]
    assert "not an audio format" in warned["cat/notes.txt"]
    assert "not a class" in warned["docs"]
    assert "outside the class folders" in warned["stray.wav"]
    assert not any(".hidden" in p for p in warned)
    n_mp3 = int("MP3" in sf.available_formats())
    assert rep.n_usable == 2 + n_mp3  # the MP3 is read, not skipped without a word
    assert f"{len(rep.warnings)} warning(s)" in rep.format()


def test_unreadable_metadata_names_the_permission(esc50, monkeypatch):
    import audiointerp.data.layouts as layouts

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(layouts.pd, "read_csv", denied)
    with pytest.raises(DatasetError, match=r"esc50\.csv: cannot be read: permission denied"):
        open_dataset(esc50)
    assert cli.main(["info", str(esc50)]) == 2


def test_unreadable_wav_names_the_permission_not_truncation(esc50, monkeypatch):
    import audiointerp.data.io as audio_io

    target = next((esc50 / "audio").glob("*.wav"))
    real_open, real_info = open, audio_io.sf.info

    def denied_open(file, *args, **kwargs):
        if str(file) == str(target):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    def denied_info(file, *args, **kwargs):
        if str(file) == str(target):
            raise audio_io.sf.LibsndfileError(2, "Error opening: System error.")
        return real_info(file, *args, **kwargs)

    monkeypatch.setattr(audio_io, "open", denied_open, raising=False)
    monkeypatch.setattr(audio_io.sf, "info", denied_info)
    with pytest.raises(AudioFileError, match="permission denied; make it readable") as err:
        audio_io.audio_info(target)
    assert "truncated" not in str(err.value)
    rep = inspect_dataset(esc50, check="header")
    assert [r for p, r in rep.problems if p == str(target)][0].startswith("cannot be read")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_files_on_disk(esc50):
    target = next((esc50 / "audio").glob("*.wav"))
    target.chmod(0)
    rep = inspect_dataset(esc50, check="header")
    assert any("permission denied" in r for _, r in rep.problems)
