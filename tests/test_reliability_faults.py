"""Regression corpus, faults: a full disk, permissions, a read-only or misplaced output end in
one clear message and exit 2 (never a traceback), leave nothing half-written, and the rerun
after the fix resumes. Faults are injected at the operating-system call, so the test runs the
same code a real full disk would."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from experiment_fixtures import session_setup

from audiointerp import cli
from audiointerp.data.io import write_audio
from audiointerp.errors import os_error_message
from audiointerp.files import TEMP_SUFFIX


@pytest.fixture
def tiny(tmp_path_factory):
    return session_setup(tmp_path_factory)


@pytest.fixture
def clip(tiny) -> Path:
    return next((tiny.data / "audio").glob("*.wav"))


class _FullDisk:
    """Wraps ``os.fdopen`` so that writes fail with ENOSPC once ``budget`` bytes are spent."""

    def __init__(self, monkeypatch, budget: int) -> None:
        self.budget = budget
        real = os.fdopen

        def fdopen(fd, *args, **kwargs):
            fh = real(fd, *args, **kwargs)
            disk = self

            class Limited:
                def __getattr__(self, name):
                    return getattr(fh, name)

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    return fh.__exit__(*exc)

                def write(self, data):
                    disk.budget -= len(data)
                    if disk.budget < 0:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    return fh.write(data)

            return Limited()

        monkeypatch.setattr(os, "fdopen", fdopen)


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith((".tmp", TEMP_SUFFIX))]


def test_full_disk_on_a_single_file_names_it_and_leaves_nothing(
    tmp_path, clip, monkeypatch, capsys
):
    out = tmp_path / "r.wav"
    _FullDisk(monkeypatch, budget=1000)
    assert cli.main(["resynth", "--audio", str(clip), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"audiointerp resynth: error: {out}: no space left on the device; free some" in err
    assert "Traceback" not in err
    assert not out.exists() and not _temps(tmp_path)


def test_write_audio_keeps_the_old_file_when_the_disk_fills(tmp_path, monkeypatch):
    path = write_audio(tmp_path / "a.wav", np.zeros(100, np.int16), 16000)
    before = path.read_bytes()
    _FullDisk(monkeypatch, budget=10)
    with pytest.raises(OSError) as err:
        write_audio(path, np.ones(1000, np.int16), 16000)
    assert err.value.filename == str(path)
    assert path.read_bytes() == before and not _temps(tmp_path)


def _grid_yaml(tiny, path: Path, out: Path) -> Path:
    cfg = {
        "name": "faults",
        "models": {"mel": tiny.models["mel"]},
        "data": {
            "root": str(tiny.data),
            "test_folds": [1],
            "train_folds": [2],
            "n_clips": 2,
            "duration_s": 1.0,
        },
        "noises_dir": str(tiny.noises),
        "conditions": ["clean"],
        "methods": {"saliency": {}},
        "masks": ["minmax", "bin"],
        "clips_per_unit": 1,
        "output": str(out),
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_grid_on_a_full_disk_exits_2_and_the_rerun_resumes(tiny, tmp_path, monkeypatch, capsys):
    clean = tmp_path / "clean"
    assert cli.main(["run", "--config", str(_grid_yaml(tiny, tmp_path / "c.yaml", clean))]) == 0
    expected = pd.read_csv(clean / "results.csv").sort_values(["method", "mask", "id"])
    out = tmp_path / "full"
    config = _grid_yaml(tiny, tmp_path / "f.yaml", out)
    written = sum(p.stat().st_size for p in clean.rglob("*") if p.is_file())
    with monkeypatch.context() as m:
        _FullDisk(m, budget=written // 3)  # the first unit fits, then the disk is full
        assert cli.main(["run", "--config", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no space left on the device" in err and "run the same command again" in err
    assert not _temps(out)  # nothing half-written
    done = list((out / "runs").rglob("batch_*.csv"))
    assert len(done) == 1  # one of the two units finished before the disk filled
    assert cli.main(["run", "--config", str(config), "--no-progress"]) == 0  # after the fix
    got = pd.read_csv(out / "results.csv").sort_values(["method", "mask", "id"])
    cols = [c for c in expected.columns if c not in ("wall_s",)]
    pd.testing.assert_frame_equal(
        got[cols].reset_index(drop=True), expected[cols].reset_index(drop=True)
    )


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (errno.EROFS, "the file system is read-only; choose an output folder on a writable disk"),
        (errno.EACCES, "permission denied; choose a folder you can write"),
    ],
)
def test_read_only_or_forbidden_output(tmp_path, clip, monkeypatch, capsys, code, said):
    out = tmp_path / "locked" / "ill"
    real = os.mkdir

    def mkdir(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "locked")):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    argv = ["resynth", "--audio", str(clip), "--out", str(out / "r.wav")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and "locked" in err and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_on_disk(tmp_path, clip, capsys):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    assert cli.main(["resynth", "--audio", str(clip), "--out", str(locked / "r.wav")]) == 2
    assert "permission denied" in capsys.readouterr().err


def test_output_path_that_is_a_file(tiny, tmp_path, clip, capsys):
    afile = tmp_path / "afile"
    afile.write_text("the user's")
    cases = [
        ["run", "--config", str(_grid_yaml(tiny, tmp_path / "g.yaml", afile)), "--no-progress"],
        ["resynth", "--audio", str(clip), "--out", str(afile / "r.wav")],
        ["synth", "--out", str(afile), "--clips-per-class", "1", "--no-progress"],
        ["noises", "--out", str(afile)],
        [
            "evaluate",
            "--weights",
            tiny.models["mel"],
            "--data",
            str(tiny.data),
            "--out",
            str(afile),
        ],
    ]
    for argv in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert str(afile) in err and "is a file" in err and "Traceback" not in err, err
    assert afile.read_text() == "the user's"
    assert cli.main(["resynth", "--audio", str(clip), "--out", str(tmp_path)]) == 2
    assert "it is a folder; give a file name" in capsys.readouterr().err


def test_resynth_suffix_picks_the_container(tmp_path, clip, capsys):
    if "MP3" in sf.available_formats():
        assert cli.main(["resynth", "--audio", str(clip), "--out", str(tmp_path / "x.mp3")]) == 0
        assert sf.info(str(tmp_path / "x.mp3")).format == "MP3"
    assert cli.main(["resynth", "--audio", str(clip), "--out", str(tmp_path / "x.flac")]) == 0
    assert sf.info(str(tmp_path / "x.flac")).subtype == "PCM_24"
    assert cli.main(["resynth", "--audio", str(clip), "--out", str(tmp_path / "x.mp4")]) == 2
    assert ".mp4 is not an audio format written here" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_illustrate_silent_audio_and_bad_dpi(tiny, tmp_path, capsys):
    silent = tmp_path / "zero.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    base = ["illustrate", "--audio", str(silent), "--weights", tiny.models["mel"]]
    base += ["--methods", "saliency", "gradcam", "--duration-s", "1"]
    assert cli.main([*base, "--dpi", "0", "--out", str(tmp_path / "a")]) == 2
    assert "dpi=0 is not a usable resolution" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert cli.main([*base, "--dpi", "40", "--out", str(tmp_path / "b")]) == 0
    metrics = pd.read_csv(tmp_path / "b" / "tiny_mel" / "metrics.csv")
    assert len(metrics) and np.isfinite(metrics.select_dtypes("number").to_numpy()).all()


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (errno.ENOSPC, "no space left"),
        (errno.EDQUOT, "quota"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only"),
        (errno.ENOTDIR, "a part of the path is a file"),
        (errno.EEXIST, "is a file, not a folder"),
        (errno.EISDIR, "is a folder where a file is needed"),
        (errno.ENAMETOOLONG, "too long"),
    ],
)
def test_os_error_messages_name_file_problem_and_fix(code, said):
    msg = os_error_message(OSError(code, os.strerror(code), "/data/out/x.csv"))
    assert msg.startswith("/data/out/x.csv: ") and said in msg and ";" in msg
    fallback = os_error_message(OSError(code, os.strerror(code)), fallback="results")
    assert fallback.startswith("writing under results: ")
