"""Notebooks 03/04 executed with papermill in a smoke setting (tiny models, 2 clips)."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment_fixtures import session_setup

from audiointerp.config import save_yaml
from audiointerp.experiments.grid.config import load_experiment
from audiointerp.experiments.grid.store import read_csv

ROOT = Path(__file__).resolve().parents[1]
pm = pytest.importorskip("papermill")

pytestmark = pytest.mark.slow


def test_experiment_notebooks_run_one_condition_each_into_one_results_root(tmp_path_factory):
    tiny = session_setup(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("nb")
    cfg = load_experiment(None, tiny.overrides(tmp / "unused"))
    config = tmp / "grid.yaml"
    save_yaml(cfg, config)
    out = tmp / "results"
    for number, kind in (("03", "stft"), ("04", "mel")):
        nb = next((ROOT / "notebooks").glob(f"{number}_experiments_{kind}.ipynb"))
        executed = tmp / f"{nb.stem}.ipynb"
        pm.execute_notebook(
            str(nb),
            str(executed),
            cwd=str(ROOT / "notebooks"),  # where JupyterLab and Voila start kernels
            kernel_name="python3",
            progress_bar=False,
            parameters={
                "config": str(config),
                "model": kind,
                "condition": "white",
                "n_clips": 2,
                "output": str(out),
                "methods": ["saliency", "gradcam"],
                "masks": ["bin", "topK_30"],
                "progress": False,
            },
        )
        assert executed.is_file()
    table = read_csv(out / "results.csv")
    assert set(table["model"]) == {"stft", "mel"} and set(table["condition"]) == {"white"}
    assert len(table) == 2 * 2 * 2 * 2  # models x methods x masks x clips
    assert (out / "stft" / "gradcam_white" / "csvs" / "topK_30.csv").is_file()
    assert (out / "mel" / "saliency_white" / "csvs" / "bin.csv").is_file()


def test_reproduce_plan_runs_every_notebook_in_order_with_declared_parameters_only():
    from audiointerp.commands.reproduce import declared_parameters, plan

    steps = plan(data="data/synth")
    names = [s.notebook.name[:2] for s in steps]
    assert names == sorted(names) and {"03", "04"} <= set(names)
    conds = load_experiment(ROOT / "configs" / "experiment_default.yaml").conditions
    mel = [s for s in steps if s.notebook.name.startswith("04")]
    assert [s.parameters["condition"] for s in mel] == list(conds)
    assert all(s.output.parent == Path("results") / "notebooks" for s in steps)
    assert len({s.output for s in steps}) == len(steps)
    for s in steps:
        assert set(s.parameters) <= declared_parameters(s.notebook)
    assert mel[0].parameters["weights"] == "results/runs/default_mel/model.pt"
