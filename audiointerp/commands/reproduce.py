"""``audiointerp reproduce`` (``make reproduce``): execute the numbered notebooks in order.

``audiointerp reproduce --data DIR [--pretrained FILE] [--configs paper] [--only 03 04]``

Notebook ``03``/``04`` run once per condition of the experiment config. Each notebook receives
only the parameters its ``parameters`` cell declares (from a common pool: ``data``,
``pretrained``, ``config``, ``condition``, ``output``, ``results``...), so the notebooks stay
free to name what they need. Executed copies go to ``results/notebooks/``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiointerp.errors import AudioInterpError, ParameterError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
# Config files per setting: training configs of notebooks 01/02 and the experiment grid.
CONFIG_SETS: dict[str, dict[str, str]] = {
    "default": {
        "stft": "configs/default_stft.yaml",
        "mel": "configs/default_mel.yaml",
        "experiment": "configs/experiment_default.yaml",
    },
    "paper": {
        "stft": "configs/paper_esc50_stft.yaml",
        "mel": "configs/paper_esc50_mel.yaml",
        "experiment": "configs/experiment_paper_esc50.yaml",
    },
}


@dataclass
class Step:
    """One papermill execution: a notebook, its parameters, the executed copy."""

    notebook: Path
    output: Path
    parameters: dict[str, Any] = field(default_factory=dict)


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    import papermill as pm

    return set(pm.inspect_notebook(str(notebook)))


def plan(
    *,
    data: str,
    pretrained: str | None = None,
    configs: str = "default",
    results: str = "results",
    supplementary: str = "supplementary",
    notebooks_dir: str | Path = ROOT / "notebooks",
    extra: dict[str, Any] | None = None,
) -> list[Step]:
    """The executions of ``make reproduce``, in order.

    Parameters
    ----------
    data : str
        Data folder (the synthetic benchmark or ESC-50).
    pretrained : str, optional
        PANNs CNN14 checkpoint for notebooks 01/02 (paper setting).
    configs : {"default", "paper"}
        Which config set (:data:`CONFIG_SETS`).
    results, supplementary : str
        Results root and the folder for tables and figures.
    notebooks_dir : str or Path
        Folder of the numbered notebooks.
    extra : dict, optional
        Further parameters offered to every notebook (e.g. ``{"n_clips": 4}`` for a smoke run).

    Returns
    -------
    list of Step
    """
    from audiointerp.experiments.grid.config import load_experiment

    if configs not in CONFIG_SETS:
        raise ParameterError(f"configs={configs!r} is not valid; choose from {sorted(CONFIG_SETS)}")
    cset = CONFIG_SETS[configs]
    grid = load_experiment(ROOT / cset["experiment"])
    results_root = results if configs == "default" else grid.output
    executed = Path(results_root) / "notebooks"
    # Notebooks 01/02 train into these run folders; the later notebooks use those checkpoints.
    runs = {k: f"{results_root}/runs/{Path(cset[k]).stem}" for k in ("stft", "mel")}
    trained = {k: f"{runs[k]}/model.pt" for k in runs}
    models = {k: trained[k] for k in grid.models if k in trained}
    common = {"data": data, "data_dir": data, "seed": grid.seed, **(extra or {})}
    if pretrained:
        common["pretrained"] = pretrained
    by_number: dict[str, dict[str, Any]] = {
        "05": {"results": results_root, "output": supplementary},
        "06": {"config": cset["experiment"], "models": models, "supplementary": supplementary},
        "07": {"config": cset["experiment"], "model": "mel", "weights": trained["mel"]},
    }
    for number, kind in (("01", "stft"), ("02", "mel")):
        by_number[number] = {"config_path": cset[kind], "output_dir": runs[kind]}
    notebooks = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise AudioInterpError(f"no numbered notebooks in {notebooks_dir}")
    steps = []
    for nb in notebooks:
        declared = declared_parameters(nb)
        number = nb.name[:2]

        def offer(values: dict[str, Any], declared: set[str] = declared) -> dict[str, Any]:
            return {k: v for k, v in {**common, **values}.items() if k in declared}

        if number in ("03", "04"):
            kind = "stft" if number == "03" else "mel"
            base = {
                "config": cset["experiment"],
                "model": kind,
                "weights": trained[kind],
                "output": results_root,
            }
            for cond in grid.conditions:
                steps.append(
                    Step(
                        nb, executed / f"{nb.stem}_{cond}.ipynb", offer({**base, "condition": cond})
                    )
                )
            continue
        steps.append(Step(nb, executed / nb.name, offer(by_number.get(number, {}))))
    return steps


def execute(steps: list[Step], *, cwd: str | Path = ROOT, kernel: str = "python3") -> list[dict]:
    """Run ``steps`` with papermill (stops at the first failure); return timings."""
    import papermill as pm

    done = []
    for step in steps:
        step.output.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        log.info("executing %s -> %s %s", step.notebook.name, step.output, step.parameters)
        print(f"[reproduce] {step.notebook.name} {step.parameters}", file=sys.stderr, flush=True)
        pm.execute_notebook(
            str(step.notebook),
            str(step.output),
            parameters=step.parameters,
            cwd=str(cwd),
            kernel_name=kernel,
            progress_bar=False,
        )
        done.append({"notebook": step.output.name, "seconds": round(time.perf_counter() - t0, 1)})
    return done


HELP = "execute the numbered notebooks 01-07 in order with papermill (make reproduce)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default="data/synth", help="data folder (synthetic benchmark or ESC-50)"
    )
    parser.add_argument("--pretrained", default=None, help="PANNs Cnn14 checkpoint (paper setting)")
    parser.add_argument(
        "--configs",
        default=None,
        choices=sorted(CONFIG_SETS),
        help="config set (default: paper when --pretrained is given)",
    )
    parser.add_argument("--results", default="results")
    parser.add_argument("--supplementary", default="supplementary")
    parser.add_argument("--only", nargs="*", default=None, help="notebook numbers, e.g. 03 04")
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")


def run(args: argparse.Namespace) -> int:
    configs = args.configs or ("paper" if args.pretrained else "default")
    steps = plan(
        data=args.data,
        pretrained=args.pretrained,
        configs=configs,
        results=args.results,
        supplementary=args.supplementary,
    )
    if args.only:
        steps = [s for s in steps if s.notebook.name[:2] in set(args.only)]
    if args.dry_run:
        for s in steps:
            print(f"{s.notebook.name} -> {s.output}  {s.parameters}")
        return 0
    t0 = time.perf_counter()
    if configs == "default":  # the embedded setting makes its own data
        from audiointerp.commands.demo import ensure_benchmark, ensure_noises

        ensure_benchmark(args.data)
        ensure_noises(ROOT / "noises")
    timings = execute(steps)
    for t in timings:
        print(f"{t['notebook']:<40} {t['seconds']:8.1f} s")
    print(f"{'total':<40} {time.perf_counter() - t0:8.1f} s")
    return 0
