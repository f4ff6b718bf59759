"""Speed of the experiment runner: the demo grid as 1, 2 and 4 local shards, time per stage
against the floor, and the plan of a paper-scale grid.

Shards: each run is ``audiointerp launch --executor local --shards N`` in a fresh output folder
(process start-up, planning and the merge included), each shard capped at ``cores // N``
threads (at least 1); the speed-up is against one shard, and the merged tables of every N are
checked to be identical. The stage table comes from the one-shard run's manifest; the floor of
a stage is (distinct model evaluations it needs) x (the fastest per-clip forward time measured
here over batch sizes), DESIGN.md "Performance".

Plan (``--plan CONFIG``): units of the grid, model evaluations per clip for each method, the
FLOPs of one forward pass of the config's architecture (counted by torch), its measured forward
time on ``--device``, and so the expected time per method on that device (evaluations x forward
time) and peak memory of a worker at the grid's batch size.

    python benchmarks/bench_runner.py [--clips 50] [--conditions clean white room event] [--shards 1 2 4]
    python benchmarks/bench_runner.py --plan configs/experiment_paper_esc50.yaml [--plan-clips 400] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
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
                if x.is_cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                model(x)
                if x.is_cuda:
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            out[b] = 1000 * best / b
    return out


def ensure_models(tmp: Path, data: Path, names: list[str]) -> dict[str, str]:
    """The committed weights, or randomly initialised models of the default architecture."""
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


def evaluations_per_clip(methods: dict, *, n_classes: int, n_masks: int) -> dict[str, float]:
    """Forward-pass equivalents per clip, by method (a backward pass counts as 2 forwards):
    the attribution itself plus the masked-in and masked-out variants of every mask (an
    upper bound: the scorer evaluates coinciding variants once)."""
    out = {}
    for name, opt in methods.items():
        attribute = {
            "saliency": 3.0,
            "gradcam": 3.0,
            "ig": 3.0 * float(opt.get("n_steps", 50)),
            "lime": float(opt.get("n_samples", 1000)),
            "slice": float(opt.get("n_time", 3) * opt.get("n_freq", 3) + 1),
            # DeepExplainer: one forward+backward of the clip against each background clip, x2
            "shap": 3.0 * 2 * n_classes * int(opt.get("background_per_class", 2)),
        }.get(name, 3.0)
        out[name] = attribute + 2.0 * n_masks
    return out


def _launch(cfg_path: Path, out: Path, shards: int, threads: int) -> float:
    cmd = [sys.executable, "-m", "audiointerp", "launch", "--config", str(cfg_path)]
    cmd += ["--out", str(out), "--shards", str(shards), "--executor", "local"]
    cmd += ["--cpus-per-task", str(threads), "--gpus-per-task", "0", "--no-progress"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"launch with {shards} shard(s) failed:\n{res.stderr[-3000:]}")
    return wall


def shard_scaling(args: argparse.Namespace) -> None:
    from audiointerp.config import save_yaml
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.store import read_csv
    from audiointerp.models import load_classifier

    tmp = Path(tempfile.mkdtemp(prefix="bench_runner_"))
    data = ROOT / "data" / "synth"
    if not (data / "meta" / "esc50.csv").is_file():
        from audiointerp.data.synth import generate_benchmark

        data = generate_benchmark(tmp / "data", clips_per_class=5)
    models = ensure_models(tmp, data, args.models)
    over = {"models": models, "data.root": str(data), "data.n_clips": args.clips}
    over["conditions"] = args.conditions
    over["noises_dir"] = str(ROOT / "noises")
    if args.no_sanity:
        over["sanity_clips"] = 0
    cfg = load_experiment(args.config, over)
    cfg_path = tmp / "grid.yaml"
    save_yaml(cfg, cfg_path)
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"grid {cfg.name}: {len(cfg.models)} models x {len(cfg.conditions)} conditions x "
        f"{len(cfg.methods)} methods x {args.clips} clips ({cfg.clips_per_unit} per unit), "
        f"{cores} cores, load average {load:.2f} at start"
    )
    print(
        f"{'shards':>6} {'threads':>8} {'wall s':>8} {'speed-up':>9} {'worker s':>9} {'peak MiB':>9}"
    )
    first_wall = first_table = first_manifest = None
    for n in args.shards:
        threads = max(1, cores // n)
        out = tmp / f"out_{n}"
        wall = _launch(cfg_path, out, n, threads)
        manifest = json.loads((out / "manifest.json").read_text())
        table = read_csv(out / "results.csv")
        if first_wall is None:
            first_wall, first_table, first_manifest = wall, table, manifest
        num = table.select_dtypes("number").columns
        gap = float((table[num] - first_table[num]).abs().max().max())
        print(
            f"{n:6d} {threads:8d} {wall:8.1f} {first_wall / wall:9.2f} "
            f"{manifest['total_wall_s']:9.1f} {manifest['peak_rss_mb']:9.0f}   "
            + ("identical" if table.equals(first_table) else f"max |diff| {gap:.1e}")
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average {load:.2f} at the end. Tables are bit-identical at equal threads per "
        "worker; another thread count changes torch's float reductions in the last bits"
    )

    # Per-stage time of the one-shard run against the floor.
    session = first_manifest["sessions"][-1]
    forwards = {}
    for name, path in models.items():
        clf = load_classifier(path)
        n = int(round(cfg.data.duration_s * clf.frontend.sr))
        x1 = clf.frontend.features(torch.zeros(1, n).uniform_(-0.5, 0.5))
        forwards[name] = fastest_forward_ms(clf.model, x1)
        print(
            f"{name} forward ms/clip by batch size: "
            + ", ".join(f"b{b}={ms:.2f}" for b, ms in forwards[name].items())
        )
    best = sum(min(f.values()) for f in forwards.values()) / len(forwards)
    clips = len(cfg.models) * len(cfg.conditions) * args.clips
    n_masks = first_table["mask"].nunique()
    evals = evaluations_per_clip(cfg.methods, n_classes=10, n_masks=0)
    evals = {f"attribute_{k}": v for k, v in evals.items()}
    evals["predict"] = 1.0
    evals["forward_masked"] = session["counts"].get("masked_forwards", 0) / clips
    print(f"\none shard, {clips} clip-conditions, {n_masks} masks; floor from {best:.2f} ms/clip")
    print(f"{'stage':<22}{'ms/clip':>10}{'evals/clip':>12}{'floor ms':>10}{'ratio':>8}")
    for stage, sec in sorted(session["stage_s"].items(), key=lambda kv: -kv[1]):
        ms = 1000 * sec / clips
        e = evals.get(stage)
        floor = e * best if e else None
        ratio = f"{ms / floor:8.2f}" if floor else f"{'':>8}"
        e_txt = f"{e:12.1f}" if e else f"{'':>12}"
        f_txt = f"{floor:10.1f}" if floor else f"{'':>10}"
        print(f"{stage:<22}{ms:10.1f}{e_txt}{f_txt}{ratio}")


def plan(args: argparse.Namespace) -> None:
    """Units, evaluations, FLOPs, forward time and memory of a (paper-scale) grid."""
    from torch.utils.flop_counter import FlopCounterMode

    from audiointerp.config import from_dict, load_yaml
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.interpretation.masks import MASK_NAMES
    from audiointerp.models import build_model
    from audiointerp.processing import FrontendConfig

    cfg = load_experiment(args.plan)
    n_clips = cfg.data.n_clips or args.plan_clips
    batches = math.ceil(n_clips / cfg.clips_per_unit)
    n_units = len(cfg.models) * len(cfg.conditions) * len(cfg.methods) * batches
    n_masks = len(cfg.masks or MASK_NAMES)
    train = load_yaml(ROOT / "configs" / args.plan_model)
    fc = from_dict(FrontendConfig, train["frontend"], where=args.plan_model)
    model_opts = {k: v for k, v in train["model"].items() if k not in ("arch", "pretrained")}
    model = build_model(
        train["model"]["arch"], num_classes=args.plan_classes, num_bins=fc.n_bins, **model_opts
    ).eval()
    device = torch.device(args.device)
    model.to(device)
    frames = int(cfg.data.duration_s * fc.sr) // fc.hop_length + 1
    x1 = torch.randn(1, 1, fc.n_bins, frames, device=device) * 10 - 40
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x1)
    gflop = counter.get_total_flops() / 1e9
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    fwd = fastest_forward_ms(model, x1, sizes=tuple(args.plan_batches))
    ms = min(fwd.values())  # per clip, at the fastest batch size
    if device.type == "cuda":
        mem = f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB GPU"
    else:
        from audiointerp.experiments.grid.manifest import peak_rss_mb

        mem = f"{peak_rss_mb():.0f} MiB resident"
    params = sum(p.numel() for p in model.parameters()) / 1e6
    kept = [0]  # bytes autograd keeps for the backward pass of one input (gradient methods)
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:  # a tensor saved by two ops is kept once
            seen.add(storage.data_ptr())
            kept[0] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x1.clone().requires_grad_()).sum().backward()
    shap_inputs = (
        2 * args.plan_classes * int(cfg.methods.get("shap", {}).get("background_per_class", 2))
    )
    per_model_cond = n_clips
    print(
        f"plan of {args.plan}: {len(cfg.models)} models x {len(cfg.conditions)} conditions x "
        f"{len(cfg.methods)} methods x {batches} batches of {cfg.clips_per_unit} clips = "
        f"{n_units} units ({n_clips} clips, {n_masks} masks)"
    )
    print(
        f"model {train['model']['arch']} ({params:.1f} M parameters), input 1x{fc.n_bins}x{frames}: "
        f"{gflop:.1f} GFLOP per forward; on {device} ({torch.get_num_threads()} threads): "
        + ", ".join(f"b{b}={v:.2f}" for b, v in fwd.items())
        + f" ms/clip; peak memory at batch {max(args.plan_batches)}: {mem}"
    )
    print(
        f"backward keeps {kept[0] / 2**20:.0f} MiB per input, so SHAP's DeepExplainer "
        f"({shap_inputs} inputs per clip) holds {shap_inputs * kept[0] / 2**30:.1f} GiB "
        f"+ {params * 4:.0f} MB of weights"
    )
    evals = evaluations_per_clip(cfg.methods, n_classes=args.plan_classes, n_masks=n_masks)
    scale = len(cfg.models) * len(cfg.conditions) * per_model_cond
    at = f"h @{args.assume_tflops:g} TFLOP/s"
    print(f"{'method':<10}{'evals/clip':>12}{'h on ' + str(device):>14}{'PFLOP':>9}{at:>18}")
    total_h = total_pflop = 0.0
    for name, e in evals.items():
        hours = e * scale * ms / 1000 / 3600
        pflop = e * scale * gflop / 1e6
        total_h, total_pflop = total_h + hours, total_pflop + pflop
        assumed = pflop * 1e3 / args.assume_tflops / 3600
        print(f"{name:<10}{e:12.0f}{hours:14.2f}{pflop:9.1f}{assumed:18.2f}")
    assumed = total_pflop * 1e3 / args.assume_tflops / 3600
    print(
        f"{'total':<10}{sum(evals.values()):12.0f}{total_h:14.2f}{total_pflop:9.1f}{assumed:18.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=50, help="test clips (the demo: 50)")
    parser.add_argument("--conditions", nargs="+", default=["clean", "white", "room", "event"])
    parser.add_argument("--models", nargs="+", default=["stft", "mel"])
    parser.add_argument("--shards", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument(
        "--no-sanity", action="store_true", help="leave out the sanity check (serial, shard 0)"
    )
    parser.add_argument("--config", default=str(ROOT / "configs" / "experiment_default.yaml"))
    parser.add_argument("--plan", default=None, help="print the plan of this grid instead")
    parser.add_argument("--plan-clips", type=int, default=400, help="clips when n_clips is null")
    parser.add_argument("--plan-classes", type=int, default=50)
    parser.add_argument("--plan-model", default="paper_esc50_mel.yaml", help="training config")
    parser.add_argument("--plan-batches", nargs="+", type=int, default=[1, 16, 64])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--assume-tflops",
        type=float,
        default=25.0,
        help="sustained throughput for the estimated column (measure with --device cuda)",
    )
    args = parser.parse_args()
    tune_allocator()
    if args.plan:
        plan(args)
    else:
        shard_scaling(args)


if __name__ == "__main__":
    main()
