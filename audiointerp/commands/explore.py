"""``audiointerp explore``: the explorer (notebook 07) as a web app, served with Voila.

``audiointerp explore --weights W --data DIR [--config C] [--port P]`` starts Voila on
``127.0.0.1`` with notebook 07 and prints its address; the page shows only the app. Voila
cannot take papermill parameters, so the arguments reach the notebook as JSON in the
environment variable ``AUDIOINTERP_EXPLORE``
(:func:`~audiointerp.experiments.interactive.explorer_app.app_parameters`). Paths given here
are relative to the working directory; they are passed on as absolute paths. Ctrl-C stops
the server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from audiointerp.commands import add_set_option

HELP = "serve the interactive explorer (notebook 07) as a web app with Voila on 127.0.0.1"

NOTEBOOK = Path("notebooks") / "07_explorer.ipynb"
DEFAULT_PORT = 8866


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="classifier checkpoint to explore")
    parser.add_argument(
        "--data",
        default=None,
        help="data folder to draw clips from (ESC-50, UrbanSound8K or a folder per class)",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="an experiment YAML: explore its clips, methods and options (--weights replaces "
        "the checkpoint of --model, --data its data root)",
    )
    parser.add_argument("--model", default="", help="with --config: which of its models")
    parser.add_argument("--condition", default="", help="with --config: the condition")
    add_set_option(parser, "methods.lime.n_samples=100")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Notebook 07's parameters from the command line (absolute paths, checked to exist)."""
    from audiointerp.config import parse_overrides
    from audiointerp.errors import ParameterError

    def existing(value: str | None, flag: str, kind: str) -> str:
        if not value:
            return ""
        path = Path(value).expanduser()
        ok = path.is_dir() if kind == "folder" else path.is_file()
        if not ok:
            raise ParameterError(f"{flag} {value}: no such {kind}")
        return str(path.resolve())

    if not args.config and not (args.weights and args.data):
        raise ParameterError(
            "explore needs --weights W and --data DIR (or --config C): e.g. audiointerp "
            "explore --weights weights/default_mel.pt --data data/synth"
        )
    data_kind = "file" if args.data and args.data.endswith(".csv") else "folder"
    return {
        "config": existing(args.config, "--config", "file"),
        "model": args.model,
        "weights": existing(args.weights, "--weights", "file"),
        "data": existing(args.data, "--data", data_kind),
        "overrides": parse_overrides(args.overrides),
        "condition": args.condition,
        "click_once": False,  # the app starts empty: the user picks the clip
    }


def voila_command(notebook: Path, port: int) -> list[str]:
    """The Voila server command for ``notebook`` on ``127.0.0.1:port``."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--show_tracebacks=True",
    ]


def run(args: argparse.Namespace) -> int:
    from audiointerp.errors import AudioInterpError
    from audiointerp.experiments.interactive.explorer_app import APP_ENV
    from audiointerp.paths import repo_path

    parameters = app_arguments(args)
    notebook = repo_path(NOTEBOOK)
    if not Path(notebook).is_file():
        raise AudioInterpError(
            f"{NOTEBOOK} not found: run audiointerp explore from a checkout of the repository "
            "(the app is notebook 07)"
        )
    port = free_port() if args.port == 0 else args.port
    env = {**os.environ, APP_ENV: json.dumps(parameters)}
    print(f"serving the explorer at http://127.0.0.1:{port}/ (Ctrl-C stops it)", flush=True)
    proc = subprocess.Popen(voila_command(Path(notebook), port), env=env)
    # Stopping this process stops the server too (a test or a job scheduler sends SIGTERM).
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
