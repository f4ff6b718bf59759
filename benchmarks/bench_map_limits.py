"""What limits the maps: per classifier, accuracy, the ideal mask's FidIn and localization AUCs.

For each checkpoint, runs the grid (through the explain-and-score core) on the clean test clips
of the synthetic benchmark with the reference methods and the gradient methods, and prints:

- accuracy on those clips;
- the ideal mask's FidIn (``oracle``/``native``): how often the classifier keeps its prediction
  when shown only where the target is, everything else at the silence floor;
- the localization AUC of the ``minmax`` mask of signed and absolute Saliency, Grad-CAM,
  ``energy`` (the input's level) and ``random``;
- each method's effective map resolution (the manifest's ``resolution`` entry).

It prints numbers for the model cards (``weights/*.md``) and asserts nothing.

    python benchmarks/bench_map_limits.py [--weights weights/default_stft.pt ...] [--clips 80]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from audiointerp.experiments.grid.config import load_experiment
from audiointerp.experiments.grid.runner import run_experiment

METHODS = {
    "saliency": {},
    "saliency_abs": {"method": "saliency", "abs": True},
    "gradcam": {},
    "energy": {},
    "random": {},
    "oracle": {},
}


def measure(weights: list[str], *, data: str, n_clips: int | None, out: Path) -> None:
    models = {Path(w).stem: w for w in weights}
    cfg = load_experiment(
        None,
        {
            "name": "map_limits",
            "models": models,
            "data.root": data,
            "data.test_folds": [5],
            "data.train_folds": [1, 2, 3],
            "data.n_clips": n_clips,
            "conditions": ["clean"],
            "methods": METHODS,
            "masks": ["minmax"],
            "clips_per_unit": 20,
            "save_attributions": False,
            "output": str(out),
        },
    )
    res = run_experiment(cfg, progress=False)
    table = res.table
    for model in models:
        rows = table[table["model"] == model]
        ideal = rows[(rows["method"] == "oracle") & (rows["mask"] == "native")]
        acc = rows[rows["method"] == "oracle"].drop_duplicates("id")["correct"].mean()
        print(f"\n{model}: {ideal['id'].nunique()} clean test clips")
        print(f"  accuracy {100 * acc:.1f} %; ideal-mask FidIn {ideal['FidIn'].mean():.3f}")
        print("  | method | resolution [F, T] | loc AUC (minmax) |")
        print("  |---|---|---|")
        grids = res.manifest["resolution"][model]
        for method in METHODS:
            sel = rows[(rows["method"] == method) & (rows["mask"] == "minmax")]
            grid = grids.get(method)
            shown = "adaptive" if grid is None else f"{grid[0]} x {grid[1]}"
            print(f"  | {method} | {shown} | {sel['loc_auc'].mean():.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--weights", nargs="+", default=["weights/default_mel.pt", "weights/default_stft.pt"]
    )
    parser.add_argument("--data", default="data/synth")
    parser.add_argument("--clips", type=int, default=80, help="clean test clips (fold 5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        measure(args.weights, data=args.data, n_clips=args.clips, out=Path(tmp))


if __name__ == "__main__":
    main()
