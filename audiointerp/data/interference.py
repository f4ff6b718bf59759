"""Interference sets: every clip mixed with another class's event, stems kept.

As in Listen-to-Interpret's interference experiments, a clip's target is mixed with the
target of a clip of *another* class at a chosen SNR. The interferer joins the background
stem, so the written set is again a benchmark with ground truth (same ESC-50 layout, same
loader) whose background now holds a competing class.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from audiointerp.data.datasets import open_dataset
from audiointerp.data.io import audio_info, write_audio
from audiointerp.data.mixing import interference_mix
from audiointerp.errors import DatasetError, ParameterError

LEVEL = 10 ** (-1 / 20)  # written peak, -1 dBFS: the int16 sum of the stems cannot overflow


def write_interference_set(
    src: str | Path,
    out_dir: str | Path,
    *,
    snr_db: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Mix each clip of a benchmark with a random clip of another class.

    Parameters
    ----------
    src : path-like
        A data set with stems (the synthetic benchmark).
    out_dir : path-like
        Output folder, ESC-50 layout with ``stems/``; ``meta/esc50.csv`` gains the columns
        ``interferer`` (file), ``interferer_category`` and ``interference_snr_db``.
    snr_db : float
        Target-to-interferer ratio over the clip, dB.
    seed : int
        Seed of the interferer choice.
    overwrite : bool
        Replace an existing set in ``out_dir``.

    Returns
    -------
    Path
        ``out_dir``.
    """
    if not np.isfinite(snr_db):
        raise ParameterError(f"snr_db must be finite, got {snr_db!r}")
    ds = open_dataset(src, duration_s=None, sr=audio_info(open_dataset(src).clips[0].path).sr)
    if not ds.has_stems:
        raise DatasetError(
            f"{src}: interference sets need a data set with stems (`audiointerp synth`)"
        )
    out = Path(out_dir)
    if (out / "meta").exists():
        if not overwrite:
            raise DatasetError(f"{out} already holds a data set; pass overwrite=True to replace it")
        for part in ("audio", "stems", "meta"):
            shutil.rmtree(out / part, ignore_errors=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i, clip in enumerate(ds.clips):
        others = [j for j, c in enumerate(ds.clips) if c.category != clip.category]
        if not others:
            raise DatasetError(f"{src}: needs at least two classes")
        j = others[int(rng.integers(len(others)))]
        own, other = ds.load_stems(i), ds.load_stems(j)
        mixed = interference_mix(own["target"], own["background"], other["target"], snr_db)
        tq = np.round(mixed["target"] * LEVEL * 32767).astype(np.int16)
        bq = np.round(mixed["background"] * LEVEL * 32767).astype(np.int16)
        name = clip.path.name
        write_audio(out / "stems" / "target" / name, tq, ds.sr)
        write_audio(out / "stems" / "background" / name, bq, ds.sr)
        write_audio(out / "audio" / name, (tq.astype(np.int32) + bq).astype(np.int16), ds.sr)
        rows.append(
            {
                **clip.meta,
                "interferer": ds.clips[j].path.name,
                "interferer_category": ds.clips[j].category,
                "interference_snr_db": snr_db,
            }
        )
    (out / "meta").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "meta" / "esc50.csv", index=False)
    return out
