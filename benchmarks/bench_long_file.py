"""Memory and time of loading a 5 s clip from a long file (partial read) against the whole file.

Writes a long 16-bit stereo WAV (default one hour at 44.1 kHz, ~635 MB) into a temporary
folder, then, each in a fresh process, measures peak resident memory and wall time of

- ``load_audio(path, sr=16000, duration_s=5)``: reads only the frames the clip needs;
- the same clip the old way: read every frame, resample, then crop;
- ``scan_audio(path)``: the NaN/silence check of ``audiointerp info`` (block by block).

Usage::

    python benchmarks/bench_long_file.py [--minutes 60] [--sr 44100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = r"""
import json, resource, sys, time
import numpy as np
from audiointerp.data.io import fix_length, load_audio, resample, scan_audio, to_mono
import soundfile as sf
path, mode = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if mode == "partial":
    y = load_audio(path, sr=16000, duration_s=5.0)
elif mode == "whole":
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    y = fix_length(resample(to_mono(data.T), orig_sr=sr, target_sr=16000), 80000)
else:
    scan_audio(path)
    y = np.zeros(80000, np.float32)
wall = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "wall_s": wall, "peak_rss_mb": peak_mb, "n": int(y.shape[-1])}))
"""


def write_long(path: Path, minutes: float, sr: int) -> None:
    rng = np.random.default_rng(0)
    block = sr * 10
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=2, subtype="PCM_16") as fh:
        for _ in range(int(minutes * 6)):
            fh.write((0.1 * rng.standard_normal((block, 2))).astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--sr", type=int, default=44100)
    ap.add_argument("--keep", default=None, help="folder for the long file (default: temp)")
    args = ap.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "long.wav"
    if not path.is_file():
        write_long(path, args.minutes, args.sr)
    print(f"file {path}: {path.stat().st_size / 2**20:.0f} MiB, {args.minutes:g} min, {args.sr} Hz")
    base = subprocess.run(
        [sys.executable, "-c", "import resource, audiointerp.data.io; "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(f"interpreter + imports alone: {float(base.stdout):.0f} MiB peak")
    for mode in ("partial", "whole", "scan"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True
        )
        if out.returncode:
            print(f"{mode}: failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout)
        print(f"{mode:<8} peak {r['peak_rss_mb']:7.0f} MiB  wall {r['wall_s']:6.2f} s")
    if not args.keep:
        path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
