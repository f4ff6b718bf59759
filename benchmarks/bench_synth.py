"""Time the data layer: benchmark generation, per-clip rendering, loading.

Prints numbers; asserts nothing. Usage: ``python benchmarks/bench_synth.py [--clips-per-class 40]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from audiointerp.data import CATEGORIES, generate_benchmark, open_dataset
from audiointerp.data.synth import render_clip
from audiointerp.runtime import tune_allocator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips-per-class", type=int, default=40)
    args = parser.parse_args()
    tune_allocator()
    print("render (no I/O), ms per clip")
    for category in CATEGORIES:
        t0 = time.perf_counter()
        for i in range(5):
            render_clip(category, i)
        print(f"  {category:<16} {(time.perf_counter() - t0) / 5 * 1e3:7.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "synth"
        t0 = time.perf_counter()
        t_cpu = time.process_time()
        generate_benchmark(out, clips_per_class=args.clips_per_class)
        wall, cpu = time.perf_counter() - t0, time.process_time() - t_cpu
        n = args.clips_per_class * len(CATEGORIES)
        print(
            f"generate {n} clips x 3 files: {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"({wall / n * 1e3:.0f} ms per clip)"
        )
        t0 = time.perf_counter()
        ds = open_dataset(out)
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds.load_batch(range(len(ds)))
        t_load = time.perf_counter() - t0
        print(
            f"open_dataset: {t_open:.2f} s; load all {len(ds)} clips: {t_load:.2f} s "
            f"({t_load / len(ds) * 1e3:.1f} ms per clip)"
        )


if __name__ == "__main__":
    main()
