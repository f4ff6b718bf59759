"""``audiointerp resynth``: report and output file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiointerp.cli import main


@pytest.fixture()
def stereo_44k(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * 44100)) / 44100
    y = 0.2 * rng.standard_normal((t.size, 2)) + 0.4 * np.sin(2 * np.pi * 440 * t)[:, None]
    path = tmp_path / "in.wav"
    sf.write(path, y, 44100)
    return path


def _snr(text: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith("SNR"))
    return float(line.split()[1])


def test_phase_route_is_exact(stereo_44k, tmp_path, capsys):
    out = tmp_path / "out.wav"
    assert main(["resynth", "--audio", str(stereo_44k), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert _snr(text) >= 90 and "log-mel" in text
    y, sr = sf.read(out)
    assert sr == 16000 and y.shape == (24000,)


def test_config_file_and_routes(stereo_44k, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {root: x}\nfrontend:\n  kind: mel\n  sr: 8000\n  fmax: 4000\n")
    out = tmp_path / "out.wav"
    assert (
        main(
            [
                "resynth",
                "--audio",
                str(stereo_44k),
                "--out",
                str(out),
                "--config",
                str(cfg),
                "--frontend",
                "stft",
                "--route",
                "paper",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "log-stft" in text and "8000 Hz" in text and _snr(text) >= 60
    bare = tmp_path / "bare.yaml"
    bare.write_text("kind: mel\nn_mels: 32\n")
    assert (
        main(
            [
                "resynth",
                "--audio",
                str(stereo_44k),
                "--out",
                str(out),
                "--config",
                str(bare),
                "--route",
                "griffinlim",
                "--n-iter",
                "4",
            ]
        )
        == 0
    )
    assert "32 mels" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("frontend: {kind: mel, nmels: 32}\n")
    assert (
        main(["resynth", "--audio", str(stereo_44k), "--out", str(out), "--config", str(bad)]) == 2
    )
    assert "nmels" in capsys.readouterr().err
