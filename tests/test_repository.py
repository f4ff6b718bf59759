"""Repository conventions a new user relies on: pins, folder READMEs, clean notebooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_requirements_are_exact_pins_without_torchaudio_or_torchvision():
    lines = [
        ln.strip()
        for ln in (ROOT / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert "torch==2.13.0" in lines
    for ln in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", ln), f"not an exact pin: {ln}"
        assert not ln.lower().startswith(("torchaudio", "torchvision")), ln


@pytest.mark.parametrize(
    "folder",
    ["notebooks", "results", "weights", "pretrained", "samples", "noises", "supplementary"],
)
def test_top_level_folders_explain_themselves(folder):
    readme = ROOT / folder / "README.md"
    assert readme.is_file(), f"{folder}/README.md is missing"
    assert len(readme.read_text().split()) >= 20, f"{folder}/README.md is too short to be useful"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_numbered_parametrised_and_cleared(path):
    assert re.match(r"\d\d_\w+\.ipynb$", path.name)
    nb = json.loads(path.read_text())
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code_cells, f"{path.name} has no code"
    assert "parameters" in code_cells[0].get("metadata", {}).get("tags", []), (
        f"{path.name}: the first code cell must be tagged 'parameters' for papermill"
    )
    for cell in code_cells:
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
            f"{path.name}: clear outputs before committing"
        )


def test_make_lab_serves_the_notebooks_in_jupyterlab(tmp_path):
    """`make lab` starts JupyterLab on 127.0.0.1 with the repository as its root."""
    import json as _json
    import os
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = f"LAB_ARGS=--ServerApp.port={port} --no-browser --IdentityProvider.token=test"
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        ["make", "-s", "lab", args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/api/contents/notebooks?token=test"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = _json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "lab.log").read_text()
                time.sleep(0.5)
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in NOTEBOOKS} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=test") as response:
            assert b"JupyterLab" in response.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()
