"""The CLI dispatcher: subcommands are discovered, errors become exit status 2 with a message."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from audiointerp import cli
from audiointerp.errors import ParameterError


def test_help_lists_available_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli._available():
        assert name in out


def _fake_command(exc: BaseException | None):
    def run(args):
        if exc is not None:
            raise exc
        return 0

    return types.SimpleNamespace(HELP="fake", add_arguments=lambda p: None, run=run)


@pytest.mark.parametrize(
    ("exc", "status"),
    [(None, 0), (ParameterError("--audio x.wav does not exist"), 2), (KeyboardInterrupt(), 130)],
)
def test_dispatch_maps_outcomes_to_exit_status(monkeypatch, capsys, exc, status):
    monkeypatch.setattr(cli, "_available", lambda: {"fake": _fake_command(exc)})
    assert cli.main(["fake"]) == status
    if status == 2:
        assert "audiointerp fake: error: --audio x.wav does not exist" in capsys.readouterr().err


def test_unexpected_exceptions_are_not_swallowed(monkeypatch):
    monkeypatch.setattr(cli, "_available", lambda: {"fake": _fake_command(RuntimeError("bug"))})
    with pytest.raises(RuntimeError, match="bug"):
        cli.main(["fake"])


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "audiointerp", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "audiointerp" in done.stdout
