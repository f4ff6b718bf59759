"""Frontend speed: analysis, resynthesis per route, and Griffin-Lim against librosa.

Run from the repository root:

    python benchmarks/bench_frontends.py [--batch 32] [--repeat 3] [--gl-iter 32]

Uses clips of the synthetic benchmark (data/synth) when present, else synthetic field-recording
stand-ins (pink noise, clicks and a chirp). Prints milliseconds per five-second clip (median
over repeats) and the spectral convergence of both Griffin-Lim implementations.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from audiointerp.processing import (
    FrontendConfig,
    build_frontend,
    griffinlim,
    spectral_convergence,
)
from audiointerp.runtime import tune_allocator

ROOT = Path(__file__).resolve().parents[1]


def clips(batch: int, sr: int) -> tuple[torch.Tensor, str]:
    synth = ROOT / "data" / "synth"
    if (synth / "meta" / "esc50.csv").is_file():
        from audiointerp.data.datasets import open_dataset

        ds = open_dataset(synth, sr=sr, duration_s=5.0)
        idx = np.linspace(0, len(ds) - 1, batch).astype(int).tolist()
        return torch.from_numpy(ds.load_batch(idx)[0]), f"{batch} clips of {synth}"
    rng = np.random.default_rng(0)
    n = 5 * sr
    out = []
    for _ in range(batch):
        y = np.fft.irfft(
            np.fft.rfft(rng.standard_normal(n))
            / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0)),
            n,
        )
        y[rng.integers(0, n, 8)] += 3 * y.std()
        y += 0.3 * y.std() * librosa.chirp(fmin=100, fmax=sr / 2.5, sr=sr, length=n)
        out.append(y / np.abs(y).max())
    return torch.from_numpy(np.stack(out).astype(np.float32)), f"{batch} synthetic stand-ins"


def per_clip_ms(fn, batch: int, repeat: int) -> float:
    fn()  # warm-up: caches, allocator
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gl-iter", type=int, default=32)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice); on a busy machine 1 is often faster",
    )
    parser.add_argument(
        "--librosa-clips",
        type=int,
        default=None,
        help="clips for librosa's Griffin-Lim (default: the whole batch)",
    )
    args = parser.parse_args()
    tune_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"librosa {librosa.__version__}"
    )

    configs = {
        "log-stft 16k": FrontendConfig(kind="stft"),
        "log-mel 16k": FrontendConfig(kind="mel"),
        "log-mel 32k (paper)": FrontendConfig.paper_esc50("mel"),
    }
    waves = {}
    print(f"\n== analysis, ms per 5 s clip (batch {args.batch})")
    print(
        f"{'frontend':<22}{'features':>10}{'analyze':>10}{'phase':>10}{'paper':>10}"
        f"{'griffinlim':>12}"
    )
    for name, cfg in configs.items():
        if cfg.sr not in waves:
            waves[cfg.sr] = clips(args.batch, cfg.sr)
        x, source = waves[cfg.sr]
        fe = build_frontend(cfg)
        spec = fe.analyze(x)
        ones = torch.ones_like(spec.features)
        row = [
            per_clip_ms(lambda fe=fe, x=x: fe.features(x), args.batch, args.repeat),
            per_clip_ms(lambda fe=fe, x=x: fe.analyze(x), args.batch, args.repeat),
        ]
        for route in ("phase", "paper", "griffinlim"):
            row.append(
                per_clip_ms(
                    lambda fe=fe, spec=spec, ones=ones, route=route: fe.resynthesize(
                        spec, ones, route=route, n_iter=args.gl_iter
                    ),
                    args.batch,
                    1 if route == "griffinlim" else args.repeat,
                )
            )
        print(f"{name:<22}" + "".join(f"{v:>10.2f}" for v in row[:4]) + f"{row[4]:>12.1f}")
    print(
        f"(source: {waves[16000][1]}; resynthesis with an all-ones mask; "
        f"Griffin-Lim {args.gl_iter} iterations)"
    )

    print(f"\n== Griffin-Lim, {args.gl_iter} iterations, zero initial phase, log-stft 16k")
    cfg = configs["log-stft 16k"]
    fe = build_frontend(cfg)
    x = waves[16000][0]
    mag = fe.analyze(x).mag
    n_lib = args.librosa_clips or args.batch
    t0 = time.perf_counter()
    ours = griffinlim(fe, mag, length=x.shape[1], n_iter=args.gl_iter, init="zeros")
    t_ours = (time.perf_counter() - t0) / args.batch
    t0 = time.perf_counter()
    ref = [
        librosa.griffinlim(
            m.numpy(),
            n_iter=args.gl_iter,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            n_fft=cfg.n_fft,
            window=cfg.window,
            center=cfg.center,
            pad_mode=cfg.pad_mode,
            length=x.shape[1],
            momentum=0.99,
            init=None,
        )
        for m in mag[:n_lib]
    ]
    t_lib = (time.perf_counter() - t0) / n_lib
    sc_ours = spectral_convergence(fe, ours, mag)
    sc_lib = spectral_convergence(fe, torch.from_numpy(np.stack(ref)), mag[:n_lib])
    print(f"{'':<22}{'ms/clip':>10}{'SC mean':>10}{'SC max':>10}")
    print(
        f"{'audiointerp (torch)':<22}{1e3 * t_ours:>10.1f}{float(sc_ours.mean()):>10.4f}"
        f"{float(sc_ours.max()):>10.4f}"
    )
    print(
        f"{'librosa':<22}{1e3 * t_lib:>10.1f}{float(sc_lib.mean()):>10.4f}"
        f"{float(sc_lib.max()):>10.4f}"
    )
    print(
        f"speed-up {t_lib / t_ours:.2f}x; clips where ours is at least as good: "
        f"{int((sc_ours[:n_lib] <= sc_lib * (1 + 1e-4)).sum())}/{n_lib}"
    )


if __name__ == "__main__":
    main()
