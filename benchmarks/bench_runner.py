"""Speed of the experiment runner: time per clip per stage and the ratio to the floor.

The floor of a stage is (distinct model evaluations it needs) x (the fastest per-clip forward
time measured here over batch sizes), DESIGN.md "Performance". Uses the committed weights when
present (else randomly initialised models of the default architecture) and ``data/synth``
when present (else a small generated benchmark in a temporary folder).

    python benchmarks/bench_runner.py [--clips 10] [--conditions clean] [--models mel stft]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from audiointerp.runtime import tune_allocator

ROOT = Path(__file__).resolve().parents[1]


def fastest_forward_ms(model: torch.nn.Module, x1: torch.Tensor, sizes=(1, 8, 32, 64)) -> dict:
    """Best per-clip forward time (ms) for each batch size (inference mode, 3 repeats)."""
    out = {}
    with torch.inference_mode():
        for b in sizes:
            x = x1.expand(b, *x1.shape[1:]).contiguous()
            model(x)  # warm-up
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                model(x)
                best = min(best, time.perf_counter() - t0)
            out[b] = 1000 * best / b
    return out


def ensure_models(tmp: Path, data: Path, names: list[str]) -> dict[str, str]:
    from audiointerp.models import build_model, load_train_config, save_classifier

    out = {}
    for name in names:
        path = ROOT / "weights" / f"default_{name}.pt"
        if not path.is_file():
            tc = load_train_config(ROOT / "configs" / f"default_{name}.yaml")
            from audiointerp.data import open_dataset

            classes = open_dataset(data).classes
            model = build_model(
                tc.model.arch,
                num_classes=len(classes),
                num_bins=tc.frontend.n_bins,
                width=tc.model.width,
                input_pool=tc.model.input_pool,
            )
            path = tmp / f"random_{name}.pt"
            save_classifier(
                path,
                model,
                model_config=tc.model,
                frontend_config=tc.frontend,
                classes=list(classes),
                meta={"note": "random init (benchmark)"},
            )
        out[name] = str(path)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--conditions", nargs="+", default=["clean"])
    parser.add_argument("--models", nargs="+", default=["mel", "stft"])
    parser.add_argument("--config", default=str(ROOT / "configs" / "experiment_default.yaml"))
    args = parser.parse_args()
    tune_allocator()

    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment
    from audiointerp.models import load_classifier

    tmp = Path(tempfile.mkdtemp(prefix="bench_runner_"))
    data = ROOT / "data" / "synth"
    if not (data / "meta" / "esc50.csv").is_file():
        from audiointerp.data.synth import generate_benchmark

        data = generate_benchmark(tmp / "data", clips_per_class=5)
    models = ensure_models(tmp, data, args.models)
    for name, path in models.items():
        cfg = load_experiment(
            args.config,
            {
                "models": {name: path},
                "data.root": str(data),
                "data.n_clips": args.clips,
                "conditions": args.conditions,
                "output": str(tmp / "out" / name),
                "clips_per_unit": args.clips,
                "sanity_clips": 0,
            },
        )
        clf = load_classifier(path)
        n = int(round(cfg.data.duration_s * clf.frontend.sr))
        x1 = clf.frontend.features(torch.zeros(1, n).uniform_(-0.5, 0.5))
        fwd = fastest_forward_ms(clf.model, x1)
        best = min(fwd.values())
        t0 = time.perf_counter()
        res = run_experiment(cfg, progress=False)
        wall = time.perf_counter() - t0
        s = res.manifest["sessions"][-1]
        clips = len(args.conditions) * args.clips
        n_masks = res.table["mask"].nunique()
        print(
            f"\n== {name}: {path} | {args.clips} clips x {len(args.conditions)} condition(s), "
            f"{n_masks} masks, {torch.get_num_threads()} threads, wall {wall:.1f} s, "
            f"peak {s['peak_rss_mb']:.0f} MiB"
        )
        print(
            "forward ms/clip by batch size: " + ", ".join(f"b{b}={ms:.2f}" for b, ms in fwd.items())
        )
        evals = _evaluations_per_clip(cfg, s, clips, n_classes=len(clf.classes))
        print(f"{'stage':<22}{'ms/clip':>10}{'evals/clip':>12}{'floor ms':>10}{'ratio':>8}")
        for stage, sec in sorted(s["stage_s"].items(), key=lambda kv: -kv[1]):
            ms = 1000 * sec / clips
            e = evals.get(stage)
            floor = e * best if e else None
            ratio = f"{ms / floor:8.2f}" if floor else f"{'':>8}"
            e_txt = f"{e:12.1f}" if e else f"{'':>12}"
            f_txt = f"{floor:10.1f}" if floor else f"{'':>10}"
            print(f"{stage:<22}{ms:10.1f}{e_txt}{f_txt}{ratio}")
        total_e = sum(evals.values())
        print(
            f"{'TOTAL (grid)':<22}{1000 * wall / clips:10.1f}{total_e:12.1f}"
            f"{total_e * best:10.1f}{1000 * wall / clips / (total_e * best):8.2f}"
        )
        print(json.dumps({"counts": s["counts"]}))


def _evaluations_per_clip(cfg, session: dict, clips: int, *, n_classes: int) -> dict[str, float]:
    """Distinct model evaluations per clip and condition, by stage (backward passes count 2)."""
    m = cfg.methods
    out = {"predict": 1.0, "forward_masked": session["counts"].get("masked_forwards", 0) / clips}
    if "saliency" in m:
        out["attribute_saliency"] = 3.0  # forward + backward (~2 forwards)
    if "gradcam" in m:
        out["attribute_gradcam"] = 3.0
    if "lime" in m:
        out["attribute_lime"] = float(m["lime"].get("n_samples", 1000))
    if "slice" in m:
        out["attribute_slice"] = float(m["slice"].get("n_time", 3) * m["slice"].get("n_freq", 3))
    if "shap" in m:
        out["attribute_shap"] = 3.0 * n_classes * int(m["shap"].get("background_per_class", 2))
    return out


if __name__ == "__main__":
    main()
