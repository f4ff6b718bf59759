"""``audiointerp samples``: write the example clips, or copy the study's ESC-50 examples."""

from __future__ import annotations

import argparse

HELP = "write one example clip per synthetic class, or copy the study's six ESC-50 examples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: samples, or samples/esc50 with --from-esc50)",
    )
    parser.add_argument(
        "--from-esc50",
        metavar="DIR",
        default=None,
        help="copy the study's six example clips out of this ESC-50 folder",
    )


def run(args: argparse.Namespace) -> int:
    from audiointerp.data.samples import STUDY_EXAMPLES, copy_esc50_examples, write_synth_samples

    if args.from_esc50:
        out = copy_esc50_examples(args.from_esc50, args.out or "samples/esc50")
        for category, name in STUDY_EXAMPLES.items():
            print(f"{out / 'audio' / name}  ({category})")
        return 0
    from audiointerp.data import open_dataset

    ds = open_dataset(write_synth_samples(args.out or "samples"))
    for clip in ds.clips:
        print(f"{clip.path}  {clip.category:<16} SNR {clip.meta['snr_db']:5.1f} dB")
    return 0
