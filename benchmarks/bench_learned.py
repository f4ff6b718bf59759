"""Learned interpreters: fit times, the cost of an explanation, and the scores against post-hoc
methods.

Run from the repository root (after `make demo`, or it runs the part of the demo grid it needs):

    python benchmarks/bench_learned.py [--results results/results.csv] [--model mel]
        [--condition clean] [--clips 10] [--parts fit explain tolerance scores]

Prints

1. per committed interpreter (``weights/<method>_default_<model>.pt``): its fit time, epochs and
   machine, as recorded in the checkpoint, and its validation numbers on fold 4;
2. per learned method: milliseconds per clip of an explanation (batch 1, median of repeats)
   against one classifier forward pass, and the passes through the classifier it makes;
3. what the classifier tolerates (why a native mask cannot have everything): FidIn, AI and AG of
   fixed masks on fold 5 (the ideal mask from the stems, random binary masks keeping 95 % /
   50 % of the bins, the loudest 10 % of the bins, uniform soft masks 0.9 and 0.9999);
4. the scores on fold 5 under ``--condition`` for ``--model``: each method's best value of AI,
   AG and FidIn over its masks (which mask), the learned methods' native mask, and the
   localization AUC and SI-SDRi of the ground truth. Read from ``--results`` (the demo's tidy
   table) when it has the model, else computed by running the demo grid for that model and
   condition into ``results/runs/bench_learned`` (git-ignored).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
LEARNED = ("lmac", "lmac_ft", "l2i", "piq", "nmf")
#: The report's parts, in the order of the module docstring (``--parts``).
PARTS = ("fit", "explain", "tolerance", "scores")


def fit_report(model: str) -> None:
    from audiointerp.interpretation.learned import read_interpreter

    print(f"\n== fitting (weights/*_default_{model}.pt) ==")
    for method in LEARNED:
        path = ROOT / "weights" / f"{method}_default_{model}.pt"
        if not path.is_file():
            print(f"{method:8s} not committed")
            continue
        c = read_interpreter(path)
        v = c.meta["validation"].get("clean", {})
        print(
            f"{method:8s} {c.meta['fit_seconds']:7.1f} s fit (CPU "
            f"{c.meta.get('cpu_seconds', np.nan):6.1f} s), {c.meta['epochs_run']:3d} epochs, "
            f"{path.stat().st_size / 1e6:.2f} MB | fold-4 clean FidIn {v.get('FidIn', np.nan):.2f} "
            f"AI {v.get('AI', np.nan):5.1f} AG {v.get('AG', np.nan):5.1f} "
            f"loc_auc {v.get('loc_auc', np.nan):.3f} | {c.meta['machine']}"
        )


def explain_cost(model: str, clips: int, repeat: int) -> None:
    from audiointerp.data import open_dataset
    from audiointerp.interpretation import build_method
    from audiointerp.interpretation.context import MethodContext
    from audiointerp.models import load_classifier

    clf = load_classifier(ROOT / "weights" / f"default_{model}.pt", device="cpu")
    ds = open_dataset(ROOT / "data" / "synth", sr=clf.frontend.sr, duration_s=5.0, folds=[5])
    waves, _, _ = ds.load_batch(np.linspace(0, len(ds) - 1, clips).astype(int))
    x = clf.frontend.features(torch.from_numpy(waves))
    ctx = MethodContext(clf.model, clf.frontend, model_sha256=clf.sha256)

    with torch.inference_mode():
        targets = clf.model(x).argmax(-1)

    def ms_per_clip(fn) -> float:
        fn(0)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for i in range(clips):
                fn(i)
            times.append((time.perf_counter() - t0) / clips * 1e3)
        return statistics.median(times)

    with torch.inference_mode():
        forward = ms_per_clip(lambda i: clf.model(x[i : i + 1]))
    print(f"\n== explaining ({model}, batch 1, {clips} clips x {repeat}, 1 thread) ==")
    print(f"classifier forward      {forward:7.2f} ms per clip")
    for method in LEARNED:
        path = ROOT / "weights" / f"{method}_default_{model}.pt"
        if not path.is_file():
            continue
        m = build_method(method, {"checkpoint": str(path)}, ctx)
        passes: list[int] = []
        hook = clf.model.conv_block1.register_forward_hook(
            lambda mod, inp, out, passes=passes: passes.append(out.shape[0])
        )
        m.explain(clf.model, x[:1], targets[:1])
        hook.remove()
        ms = ms_per_clip(lambda i, m=m: m.explain(clf.model, x[i : i + 1], targets[i : i + 1]))
        print(
            f"{method:8s} explain     {ms:7.2f} ms per clip = {ms / forward:5.1f} forwards "
            f"({sum(passes)} clip passes through the classifier's blocks; the rest is the interpreter)"
        )


def fragility(model: str) -> None:
    from audiointerp import metrics
    from audiointerp.data import open_dataset
    from audiointerp.interpretation.masks import apply_mask
    from audiointerp.models import load_classifier
    from audiointerp.processing.ground_truth import ideal_mask

    clf = load_classifier(ROOT / "weights" / f"default_{model}.pt", device="cpu")
    ds = open_dataset(ROOT / "data" / "synth", sr=clf.frontend.sr, duration_s=5.0, folds=[5])
    idx = list(range(len(ds)))
    waves, _, _ = ds.load_batch(idx)
    stems = [ds.load_stems(i) for i in idx]
    target = torch.from_numpy(np.stack([s["target"] for s in stems]))
    background = torch.from_numpy(np.stack([s["background"] for s in stems]))
    x = clf.frontend.features(torch.from_numpy(waves))
    base = clf.frontend.floor_db
    gen = torch.Generator().manual_seed(0)
    loud = (x >= torch.quantile(x.flatten(1), 0.9, dim=1)[:, None, None, None]).float()
    masks = {
        "ideal mask (stems)": ideal_mask(clf.frontend, target, background),
        "random, keep 95 %": (torch.rand(x.shape, generator=gen) < 0.95).float(),
        "random, keep 50 %": (torch.rand(x.shape, generator=gen) < 0.5).float(),
        "loudest 10 %": loud,
        "uniform 0.9": torch.full_like(x, 0.9),
        "uniform 0.9999": torch.full_like(x, 0.9999),
    }
    print(f"\n== what the {model} classifier tolerates (fold 5, {len(idx)} clean clips) ==")
    with torch.inference_mode():
        p = clf.model(x).softmax(-1)
        for name, m in masks.items():
            p_in = clf.model(apply_mask(x, m, base)).softmax(-1)
            p_out = clf.model(apply_mask(x, 1 - m, base)).softmax(-1)
            f = metrics.fidelity(p, p_in, p_out)
            print(
                f"{name:20s} keeps {float(m.mean()):.2f}: FidIn {f['FidIn'].mean():.2f} "
                f"AI {f['AI'].mean():5.1f} % AG {f['AG'].mean():5.1f} % FF {f['FF'].mean():.2f}"
            )


def scores(table: pd.DataFrame, model: str, condition: str) -> None:
    df = table[(table["model"] == model) & (table["condition"] == condition)]
    n = df["id"].nunique()
    print(f"\n== scores: fold 5, {condition}, {model} model, {n} clips ==")
    means = df.groupby(["method", "mask"])[["AI", "AG", "FidIn", "loc_auc", "si_sdri"]].mean()
    rows = []
    for method in dict.fromkeys(df["method"]):
        m = means.loc[method]
        row = {"method": method}
        for metric in ("AI", "AG", "FidIn", "loc_auc", "si_sdri"):
            best = m[metric].idxmax()
            row[metric] = f"{m.loc[best, metric]:6.3g} ({best})"
            row[f"{metric}_native"] = (
                f"{m.loc['native', metric]:6.3g}" if "native" in m.index else ""
            )
        rows.append(row)
    out = pd.DataFrame(rows).set_index("method")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print("best value over masks (mask) | native mask of the learned methods")
        print(out)


def results_table(path: Path, model: str, condition: str) -> pd.DataFrame:
    if path.is_file():
        table = pd.read_csv(path)
        have = table[(table["model"] == model) & (table["condition"] == condition)]
        if len(have) and set(LEARNED) & set(have["method"]):
            return table
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment

    cfg = load_experiment(ROOT / "configs" / "experiment_default.yaml")
    over = {
        "models": {model: cfg.models[model]},
        "conditions": [condition],
        "output": str(ROOT / "results" / "runs" / "bench_learned"),
        "sanity_clips": 0,
    }
    cfg = load_experiment(ROOT / "configs" / "experiment_default.yaml", over)
    print(f"running the demo grid for {model}/{condition} into {cfg.output} ...")
    return run_experiment(cfg, progress=True).table


def main() -> None:
    from audiointerp.runtime import tune_allocator

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(ROOT / "results" / "results.csv"))
    parser.add_argument("--model", default="mel")
    parser.add_argument("--condition", default="clean")
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to print (default: all)",
    )
    args = parser.parse_args()
    tune_allocator()
    torch.set_num_threads(1)
    if "fit" in args.parts:
        fit_report(args.model)
    if "explain" in args.parts:
        explain_cost(args.model, args.clips, args.repeat)
    if "tolerance" in args.parts:
        fragility(args.model)
    if "scores" in args.parts:
        table = results_table(Path(args.results), args.model, args.condition)
        scores(table, args.model, args.condition)


if __name__ == "__main__":
    main()
