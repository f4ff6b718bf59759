"""Progress off a terminal: one complete line per epoch / unit, never carriage returns."""

from __future__ import annotations

import io

from experiment_fixtures import session_setup
from test_training import tiny_config, toy_splits

from audiointerp.experiments.grid.config import load_experiment
from audiointerp.experiments.grid.runner import run_experiment
from audiointerp.models import train
from audiointerp.progress import LineProgress, interactive_output, progress_bar


def test_line_progress_writes_one_full_line_per_step():
    out = io.StringIO()
    bar = LineProgress(total=3, desc="grid x", unit="unit", file=out)
    for k in range(3):
        bar.set_postfix_str(f"mel/clean/unit {k + 1}/3")
        bar.update(1)
    bar.update(0)  # nothing to report
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue()
    assert lines[0].startswith("grid x: 1/3 unit (33%)") and "left" in lines[0]
    assert lines[-1].startswith("grid x: 3/3 unit (100%)") and "mel/clean/unit 3/3" in lines[-1]
    silent = io.StringIO()
    LineProgress(total=2, file=silent, disable=True).update(2)
    assert silent.getvalue() == ""


def test_progress_bar_off_a_terminal_is_line_progress():
    assert not interactive_output(io.StringIO())
    assert isinstance(progress_bar(total=2, desc="x"), LineProgress)  # pytest captures stderr


def test_training_and_grid_log_one_line_per_epoch_and_unit(tmp_path, tmp_path_factory, capsys):
    train(tiny_config(epochs=2), tmp_path / "run", splits=toy_splits(), progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    epochs = [ln for ln in err.splitlines() if ln.startswith("epochs:")]
    assert [ln.split()[1] for ln in epochs] == ["1/2", "2/2"]
    assert "valid_acc=" in epochs[-1]
    tiny = session_setup(tmp_path_factory)
    over = tiny.overrides(tmp_path / "grid", conditions=["clean"], methods={"saliency": {}})
    run_experiment(load_experiment(None, over), progress=True)
    err = capsys.readouterr().err
    units = [ln for ln in err.splitlines() if ln.startswith("grid tiny:")]
    assert "\r" not in err and len(units) == 4  # 2 models x 1 condition x 1 method x 2 units
    assert units[-1].startswith("grid tiny: 4/4 unit")
