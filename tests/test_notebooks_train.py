"""Notebooks 01/02 executed with papermill in a smoke setting (tone fixture, one epoch), from
notebooks/ as JupyterLab runs them: their repository-relative paths resolve from there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_esc50

from audiointerp.models import load_classifier

ROOT = Path(__file__).resolve().parents[1]
pm = pytest.importorskip("papermill")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    # one clip per class and fold (3 classes): 9 train, 3 valid, 3 test clips
    return make_esc50(tmp_path_factory.mktemp("data") / "esc", sr=16000, seconds=5.0)


@pytest.mark.parametrize("number,kind", [("01", "stft"), ("02", "mel")])
def test_training_notebook_runs_one_epoch(number, kind, tiny_data, tmp_path):
    nb = ROOT / "notebooks" / f"{number}_train_{kind}.ipynb"
    executed = tmp_path / nb.name
    out = tmp_path / "run"
    pm.execute_notebook(
        str(nb),
        str(executed),
        cwd=str(ROOT / "notebooks"),  # where JupyterLab and Voila start kernels
        kernel_name="python3",
        progress_bar=False,
        parameters={
            "config_path": f"configs/default_{kind}.yaml",
            "data_dir": str(tiny_data),
            "epochs": 1,
            "output_dir": str(out),
            "noise_conditions": [],
            "progress": False,
        },
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["n_train"] == 9 and metrics["n_test"] == 3
    loaded = load_classifier(out / "model.pt", device="cpu")
    assert loaded.frontend.config.kind == kind
    assert (out / "learning_curve.png").is_file() and (out / "confusion_test.png").is_file()
