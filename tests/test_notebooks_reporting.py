"""Notebooks 05-07 executed with papermill in a smoke setting (tiny results table, tiny models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from experiment_fixtures import session_setup
from test_tables import fake_results

ROOT = Path(__file__).resolve().parents[1]
pm = pytest.importorskip("papermill")

pytestmark = pytest.mark.slow


def _execute(name: str, out: Path, parameters: dict) -> dict:
    executed = out / f"{name}.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(executed),
        cwd=str(ROOT / "notebooks"),  # where JupyterLab and Voila start kernels
        kernel_name="python3",
        progress_bar=False,
        parameters=parameters,
    )
    return json.loads(executed.read_text())


def _text(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            for value in output.get("data", {}).values():
                parts.append(value if isinstance(value, str) else json.dumps(value))
    return "\n".join(parts)


def test_tables_notebook(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    fake_results(n_clips=8).to_csv(results / "results.csv", index=False)
    nb = _execute(
        "05_tables",
        tmp_path,
        {
            "results": str(results),
            "output": str(tmp_path / "supp"),
            "n_resamples": 50,
            "show_masks": ["minmax"],
        },
    )
    assert (tmp_path / "supp" / "tables.html").is_file()
    assert (tmp_path / "supp" / "tables" / "summary.tex").is_file()
    text = _text(nb)
    assert "font-weight: bold" in text and "gradcam" in text  # styled tables were displayed


def test_illustration_and_explorer_notebooks(tmp_path_factory, tmp_path):
    tiny = session_setup(tmp_path_factory)
    small = {  # the default experiment narrowed to the tiny data set
        "data.test_folds": [1],
        "data.train_folds": [2],
        "data.duration_s": 1.0,
        "data.n_clips": 4,
        "noises_dir": str(tiny.noises),
        "methods": {"gradcam": {}, "slice": {}},
        "sanity_methods": None,
    }
    _execute(
        "06_illustration",
        tmp_path,
        {
            "models": {"mel": tiny.models["mel"]},
            "data": str(tiny.data),
            "overrides": small,
            "masks": ["minmax"],
            "supplementary": str(tmp_path / "supp"),
            "dpi": 40,
        },
    )
    page = (tmp_path / "supp" / "illustration" / "listen.html").read_text()
    assert "data:image/png;base64," in page and "data:audio/flac;base64," in page
    assert (tmp_path / "supp" / "illustration" / "mel" / "figure.pdf").is_file()
    nb = _execute(
        "07_explorer",
        tmp_path,
        {
            "weights": tiny.models["mel"],
            "data": str(tiny.data),
            "overrides": small,
            "click_once": True,
        },
    )
    assert '"model_id"' in _text(nb)  # the app was displayed as a widget
    state = json.dumps(nb["metadata"].get("widgets", {}))
    assert "gradcam" in state or "saliency" in state
    assert "done" in state  # the programmatic load + compute finished (status widget)


def test_explorer_notebook_takes_what_audiointerp_explore_passes(tmp_path_factory, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    """Voila cannot inject parameters: `audiointerp explore` passes them in the environment;
    here without a config (any checkpoint on any data folder), from notebooks/."""
    from audiointerp.commands.explore import add_arguments, app_arguments
    from audiointerp.experiments.interactive.explorer_app import APP_ENV

    tiny = session_setup(tmp_path_factory)
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--weights", tiny.models["mel"], "--data", str(tiny.data)])
    passed = {**app_arguments(args), "click_once": True}
    monkeypatch.setenv(APP_ENV, json.dumps(passed))
    nb = _execute("07_explorer", tmp_path, {})
    state = json.dumps(nb["metadata"].get("widgets", {}))
    assert "done" in state and "lime" in state  # every method the checkpoint supports
