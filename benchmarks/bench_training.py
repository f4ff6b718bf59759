"""Training throughput: one epoch of the full pipeline vs the model's own forward+backward.

The pipeline computes features from in-memory waveforms batch by batch and applies SpecAugment;
the floor is the same optimisation steps on precomputed features. Also prints the per-clip
inference time of each default model at batch 1 and 32 (what interpretation methods pay per
model evaluation), for the two CNNs and the AST side by side, and a summary table of
training and forward time per clip.

    python benchmarks/bench_training.py [--clips 240] [--configs configs/default_mel.yaml ...]
"""

from __future__ import annotations

import argparse
import time

import torch

from audiointerp.models import Split, load_train_config, model_from_config
from audiointerp.models.training import machine_description, train_epoch
from audiointerp.processing import build_frontend
from audiointerp.runtime import seed_everything, tune_allocator


def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_config(path: str, n_clips: int, repeats: int) -> dict[str, float]:
    cfg = load_train_config(path, {"train.device": "cpu"})
    seed_everything(0)
    frontend = build_frontend(cfg.frontend)
    n = round(cfg.data.duration_s * cfg.frontend.sr)
    waves = 0.1 * torch.randn(n_clips, n)
    labels = torch.arange(n_clips) % 10
    data = Split(waves, labels, [str(i) for i in range(n_clips)])
    model = model_from_config(cfg.model, num_classes=10, num_bins=frontend.n_bins)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    bs = cfg.train.batch_size

    def pipeline_epoch():
        train_epoch(
            model,
            frontend,
            data,
            opt,
            cfg,
            torch.Generator().manual_seed(0),
            progress=False,
            desc="",
        )

    with torch.no_grad():
        feats = torch.cat([frontend.features(waves[i : i + 64]) for i in range(0, n_clips, 64)])

    def floor_epoch():
        model.train()
        for i in range(0, n_clips, bs):
            loss = torch.nn.functional.cross_entropy(model(feats[i : i + bs]), labels[i : i + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    pipeline_epoch()  # warm-up
    t_pipe = _best_of(pipeline_epoch, repeats)
    t_floor = _best_of(floor_epoch, repeats)
    print(
        f"{path}: {frontend.n_bins} x {feats.shape[-1]} features, "
        f"{sum(p.numel() for p in model.parameters())} parameters"
    )
    print(
        f"  epoch of {n_clips} clips: pipeline {t_pipe:.2f} s, model forward+backward {t_floor:.2f} s, "
        f"ratio {t_pipe / t_floor:.2f}"
    )
    row = {"train_ms": 1e3 * t_pipe / n_clips}
    model.eval()
    for batch in (1, 32):
        x = feats[:batch]
        with torch.no_grad():
            model(x)
            reps = 30 if batch == 1 else 5
            t = _best_of(lambda x=x, reps=reps: [model(x) for _ in range(reps)], 3) / reps
        print(f"  inference: {1e3 * t / batch:.2f} ms per clip at batch {batch}")
        row[f"forward_ms_b{batch}"] = 1e3 * t / batch
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips", type=int, default=240, help="clips per epoch (default: the 240 training clips)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (best is kept)")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=[
            "configs/default_mel.yaml",
            "configs/default_stft.yaml",
            "configs/default_ast.yaml",
        ],
    )
    args = parser.parse_args()
    tune_allocator()
    print(machine_description())
    rows = {path: bench_config(path, args.clips, args.repeats) for path in args.configs}
    print(
        f"\n{'config':32s} {'train ms/clip':>14s} {'fwd ms/clip b1':>15s} {'fwd ms/clip b32':>16s}"
    )
    for path, r in rows.items():
        print(
            f"{path:32s} {r['train_ms']:14.2f} {r['forward_ms_b1']:15.2f} {r['forward_ms_b32']:16.2f}"
        )


if __name__ == "__main__":
    main()
