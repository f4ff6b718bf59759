"""``audiointerp noises``: write the three background noises (white, room, event)."""

from __future__ import annotations

import argparse

HELP = "write the three background noises white.wav, room.wav, event.wav (reproducible)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="noises", help="output folder (default: noises)")
    parser.add_argument("--sr", type=int, default=16000, help="sample rate, Hz")
    parser.add_argument("--duration", type=float, default=5.0, help="length, s")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the committed one)")


def run(args: argparse.Namespace) -> int:
    from audiointerp.data.io import audio_info
    from audiointerp.data.noises import NOISE_SEED, write_noises

    seed = NOISE_SEED if args.seed is None else args.seed
    for path in write_noises(args.out, sr=args.sr, duration_s=args.duration, seed=seed):
        info = audio_info(path)
        print(f"{path}  {info.duration_s:.2f} s  {info.sr} Hz  {info.subtype}")
    return 0
