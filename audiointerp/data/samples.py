"""Example clips for the single-clip and illustration tools (``audiointerp samples``).

``samples/`` holds one clear example per synthetic class, written as a tiny ESC-50-layout
data set with stems (so :func:`~audiointerp.data.open_dataset` reads it, ground truth
included). The study's six ESC-50 example clips cannot be shipped; :func:`copy_esc50_examples`
copies them out of a user's ESC-50 folder.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from audiointerp.data.synth import SynthConfig, generate_benchmark
from audiointerp.errors import DatasetError

SAMPLES_SEED = 1000  # distinct from the benchmark's seeds, so samples are not test clips
SAMPLES_CONFIG = SynthConfig(snr_db_min=6.0, snr_db_max=12.0)  # clear examples

# The study's example clips: category -> ESC-50 file name.
STUDY_EXAMPLES: dict[str, str] = {
    "car_horn": "2-100648-A-43.wav",
    "clapping": "2-76408-D-22.wav",
    "crow": "1-56234-A-9.wav",
    "dog": "3-157695-A-0.wav",
    "sea_waves": "4-182613-A-11.wav",
    "cat": "5-177614-A-5.wav",
}


def write_synth_samples(out_dir: str | Path, *, overwrite: bool = True) -> Path:
    """Write one example clip per synthetic class (FLAC, with stems) to ``out_dir``."""
    return generate_benchmark(
        out_dir,
        seed=SAMPLES_SEED,
        clips_per_class=1,
        config=SAMPLES_CONFIG,
        overwrite=overwrite,
        audio_format="flac",
    )


def copy_esc50_examples(esc50_root: str | Path, out_dir: str | Path) -> Path:
    """Copy the study's six example clips out of an ESC-50 folder.

    Parameters
    ----------
    esc50_root : path-like
        ESC-50 folder (with ``audio/`` and ``meta/esc50.csv``) or a folder of its wav files.
    out_dir : path-like
        Destination; receives ``audio/<file>`` and, when the source has metadata,
        ``meta/esc50.csv`` restricted to the six rows (an ESC-50-layout mini data set).

    Raises
    ------
    DatasetError
        Naming every example file that is missing.
    """
    src, out = Path(esc50_root), Path(out_dir)
    audio = src / "audio" if (src / "audio").is_dir() else src
    missing = [name for name in STUDY_EXAMPLES.values() if not (audio / name).is_file()]
    if missing:
        raise DatasetError(
            f"{audio}: missing ESC-50 example file(s) {', '.join(missing)}; point --from-esc50 "
            f"at the ESC-50 folder that holds audio/ and meta/esc50.csv"
        )
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for name in STUDY_EXAMPLES.values():
        shutil.copyfile(audio / name, out / "audio" / name)
    meta = src / "meta" / "esc50.csv"
    if meta.is_file():
        with open(meta, newline="") as fh:
            rows = list(csv.reader(fh))
        keep = [r for r in rows[1:] if r and r[0] in set(STUDY_EXAMPLES.values())]
        (out / "meta").mkdir(exist_ok=True)
        with open(out / "meta" / "esc50.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([rows[0], *keep])
    return out
