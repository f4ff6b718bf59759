"""Tests for the data commands: synth, noises, samples, info (through the CLI)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import soundfile as sf

from audiointerp.cli import main
from audiointerp.data import open_dataset
from audiointerp.data.inspect import inspect_dataset
from audiointerp.data.samples import STUDY_EXAMPLES


def test_synth_command_writes_a_loadable_benchmark(tmp_path, capsys):
    out = tmp_path / "bench"
    rc = main(
        [
            "synth",
            "--out",
            str(out),
            "--clips-per-class",
            "1",
            "--no-progress",
            "--set",
            "snr_db_min=0",
            "--set",
            "snr_db_max=1",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "10 clips, 10 classes" in text and "SNR range" in text
    meta = pd.read_csv(out / "meta" / "esc50.csv")
    assert meta["snr_drawn_db"].between(0, 1).all()
    assert main(["synth", "--out", str(out), "--clips-per-class", "1"]) == 2  # exists
    assert main(["synth", "--out", str(out), "--set", "snr_db_mni=0"]) == 2  # unknown knob


def test_noises_command(tmp_path, capsys):
    assert main(["noises", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["event.wav", "room.wav", "white.wav"]
    assert "5.00 s" in capsys.readouterr().out


def test_info_reports_layout_counts_and_problems(esc50_factory, capsys):
    root = esc50_factory(sr=22050, seconds=1.0)
    assert main(["info", str(root)]) == 0
    text = capsys.readouterr().out
    assert "layout    esc50" in text and "22050 Hz: 15" in text and "fold 5" in text
    # Break things: an Inf file, a missing file, a path escape, an unlisted and a silent file.
    victim = sorted((root / "audio").iterdir())[0]
    y = np.zeros(100)
    y[3] = np.inf
    sf.write(str(victim), y, 22050, subtype="FLOAT")
    with open(root / "meta" / "esc50.csv", "a", newline="") as fh:
        csv.writer(fh).writerows(
            [
                ["5-1-A-0.wav", 5, 0, "dog", False, "", "A"],
                ["../../x.wav", 5, 0, "dog", False, "", "A"],
            ]
        )
    sf.write(str(root / "audio" / "stray.wav"), np.zeros(10), 8000)
    sf.write(str(sorted((root / "audio").iterdir())[1]), np.zeros(10), 8000)  # all-zero
    assert main(["info", str(root)]) == 1
    text = capsys.readouterr().out
    assert "unusable files (3)" in text and "NaN or Inf" in text and "not found" in text
    assert "outside the data root" in text and "not listed in the metadata" in text
    assert "silent: every sample is zero" in text  # a warning: loadable, but worth knowing
    rep = inspect_dataset(root, check="header")
    assert len(rep.problems) == 2  # the header check cannot see the Inf sample


def test_samples_command_synthetic(tmp_path):
    out = tmp_path / "samples"
    assert main(["samples", "--out", str(out)]) == 0
    ds = open_dataset(out)
    assert len(ds) == 10 and ds.has_stems and len(set(ds.classes)) == 10
    assert all(c.path.suffix == ".flac" for c in ds.clips)
    assert all(c.meta["snr_db"] >= 6 for c in ds.clips)


def test_samples_from_esc50(tmp_path, tone, capsys):
    src = tmp_path / "ESC-50-master"
    rows = [["filename", "fold", "target", "category", "esc10", "src_file", "take"]]
    for cat, name in STUDY_EXAMPLES.items():
        tone(src / "audio" / name, sr=44100, seconds=0.1)
        fold, srcid, take, target = name[:-4].split("-")
        rows.append([name, fold, target, cat, False, srcid, take])
    rows.append(["1-1-A-1.wav", 1, 1, "rooster", False, 1, "A"])
    (src / "meta").mkdir()
    with open(src / "meta" / "esc50.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "esc50_examples"
    assert main(["samples", "--from-esc50", str(src), "--out", str(out)]) == 0
    ds = open_dataset(out)
    assert sorted(c.path.name for c in ds.clips) == sorted(STUDY_EXAMPLES.values())
    (src / "audio" / "1-56234-A-9.wav").unlink()
    capsys.readouterr()
    assert main(["samples", "--from-esc50", str(src), "--out", str(out)]) == 2
    assert "1-56234-A-9.wav" in capsys.readouterr().err
