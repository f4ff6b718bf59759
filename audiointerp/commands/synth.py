"""``audiointerp synth``: write the synthetic benchmark (ESC-50 layout, with stems)."""

from __future__ import annotations

import argparse
import time

from audiointerp.commands import add_set_option

HELP = "generate the synthetic benchmark with ground-truth stems (ESC-50 layout)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="data/synth", help="output folder (default: data/synth)")
    parser.add_argument("--seed", type=int, default=0, help="seed; same seed, identical files")
    parser.add_argument("--clips-per-class", type=int, default=40, help="clips per class (40)")
    parser.add_argument("--sr", type=int, default=16000, help="sample rate of the files, Hz")
    parser.add_argument("--config", default=None, help="YAML file of SynthConfig knobs")
    add_set_option(parser, "snr_db_min=-4")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing benchmark")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _config(args: argparse.Namespace):
    from audiointerp.config import from_dict, load_yaml, parse_overrides
    from audiointerp.data.synth import SynthConfig

    data = load_yaml(args.config) if args.config else {}
    data.update(parse_overrides(args.overrides))
    return from_dict(SynthConfig, data, where=args.config or "--set")


def summarize(root) -> str:
    """Per-class and per-fold counts and the SNR range of a generated benchmark."""
    import pandas as pd

    meta = pd.read_csv(f"{root}/meta/esc50.csv")
    lines = [
        f"{len(meta)} clips, {meta['category'].nunique()} classes, "
        f"folds {sorted(meta['fold'].unique().tolist())}"
    ]
    snr = meta.groupby("category")["snr_db"].agg(["count", "min", "median", "max"])
    lines.append(f"{'category':<16} {'target':>6} {'clips':>5}  SNR dB min / median / max")
    targets = meta.groupby("category")["target"].first()
    for cat, r in snr.sort_values("count").iterrows():
        lines.append(
            f"{cat:<16} {targets[cat]:>6} {int(r['count']):>5}  "
            f"{r['min']:6.1f} / {r['median']:5.1f} / {r['max']:5.1f}"
        )
    lines.append(
        f"SNR range {meta['snr_db'].min():.1f} .. {meta['snr_db'].max():.1f} dB "
        f"(raised for audibility in {(meta['snr_db'] > meta['snr_drawn_db']).sum()} clips)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from audiointerp.data.synth import generate_benchmark

    cfg = _config(args)
    t0 = time.perf_counter()
    out = generate_benchmark(
        args.out,
        seed=args.seed,
        clips_per_class=args.clips_per_class,
        sr=args.sr,
        config=cfg,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    print(summarize(out))
    return 0
