"""Seconds per clip of the whole grid pipeline per method, and the ratio to its floor.

The pipeline of one method on a batch of clips is what the grid runs for it:
:func:`~audiointerp.experiments.core.explain_batch` (attribution, the masks, the masked-in/out
passes, resynthesis and SI-SDR, deletion/insertion curves, every metric) and its share of
:func:`~audiointerp.experiments.core.prepare_batch` (analysis, prediction, ideal mask, SI-SDR of
the mix), which the grid runs once per batch for all the model's methods: each of the ``M``
methods benchmarked on a model is charged ``1/M`` of its time and of its model rows. Options
are the demo config's (``configs/experiment_default.yaml``) on clean clips: the
deletion/insertion curves run where the config computes them on the clean condition
(``curve_conditions``).

The floor of a method is its model evaluations, counted by a hook on the model (every input row
of every forward pass: rows with autograd on count as forward+backward), times the fastest
per-row time of this machine over batch sizes 1-64 (a forward in inference mode, and a forward
plus the backward of one logit). ``ratio = seconds / floor``: everything above 1 is work outside
the model or a slower batch size than the best; ``local`` is the same against the floor measured
just before and after the method, the machine's speed at the time (a shared box drifts). Page faults (minor + major) and system CPU
seconds per clip (``resource.getrusage``) are measured after a warm-up pass of the same method,
so a run that hands memory back to the OS after every batch shows as a number. A second line
per method splits the ratio: the model's inference forwards timed inside the pipeline (a hook
on the model) per row against the floor's per-row time, and the seconds outside the model as a
fraction of the floor; a ratio of 1.2 needs both near their bounds.

Models: A, the committed log-mel classifier (``weights/default_mel.pt``) on 5 s clips; B, a
random-init ``build_model("cnn14", width=1.0)`` at the paper's input (32 kHz, 64 mels, hop 320:
64 x 501), a few clips. The clips are generated here (a tone as the target stem over noise as
the background stem), so the ground-truth stage runs and no data set is needed.

    python benchmarks/bench_vs_floor.py [--quick] [--models A B] [--clips-a 8] [--clips-b 1]
        [--methods saliency gradcam ...] [--methods-b saliency gradcam lime shap]

``--quick`` (under 10 minutes on a 2-core CPU): 4 clips on A, 1 on B with Saliency and LIME,
batch sizes 1 and 16 for B's floor. B runs without the deletion/insertion curves unless
``--curves-b`` (they are 77 more passes per clip at ~1 s each on this CPU). The last line reads
``worst ratio to floor: A <x> (<method>), B <y> (<method>)``.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch

from audiointerp.runtime import tune_allocator

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "experiment_default.yaml"


class EvalCounter:
    """Counts the rows a model evaluates, split by whether autograd was on (forward+backward),
    and the seconds spent inside inference-mode forwards (to split a ratio into the model's
    speed inside the pipeline and the work outside it)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.forward = 0
        self.grad = 0
        self.forward_s = 0.0
        self._t0 = 0.0
        self._handles = [
            model.register_forward_pre_hook(self._pre),
            model.register_forward_hook(self._post),
        ]

    @staticmethod
    def _grad_on() -> bool:
        return torch.is_grad_enabled() and not torch.is_inference_mode_enabled()

    def _pre(self, module, args) -> None:
        rows = int(args[0].shape[0])
        if self._grad_on():
            self.grad += rows
        else:
            self.forward += rows
            self._t0 = time.perf_counter()

    def _post(self, module, args, output) -> None:
        if not self._grad_on():
            self.forward_s += time.perf_counter() - self._t0

    def reset(self) -> None:
        self.forward = self.grad = 0
        self.forward_s = 0.0

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def per_row_seconds(model, x1: torch.Tensor, sizes, repeats: int) -> tuple[float, float]:
    """Fastest per-row forward and forward+backward seconds over ``sizes``."""
    best_f = best_fb = float("inf")
    for b in sizes:
        x = x1.expand(b, *x1.shape[1:]).contiguous()
        with torch.inference_mode():
            model(x)  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(x)
                best_f = min(best_f, (time.perf_counter() - t0) / b)
        for i in range(repeats + 1):
            xg = x.clone().requires_grad_(True)
            t0 = time.perf_counter()
            model(xg)[:, 0].sum().backward()
            if i:  # the first is a warm-up
                best_fb = min(best_fb, (time.perf_counter() - t0) / b)
    return best_f, best_fb


def make_clips(sr: int, n: int, seed: int, seconds: float = 5.0):
    """``n`` clips: a tone burst (the target stem) over pink-ish noise (the background)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    target, background = [], []
    for _ in range(n):
        on = (t > rng.uniform(0, 2.0)) & (t < rng.uniform(3.0, seconds))
        target.append(0.5 * np.sin(2 * np.pi * rng.uniform(300, 3000) * t) * on)
        background.append(0.05 * np.cumsum(rng.standard_normal(t.size)) / np.sqrt(t.size))
    target, background = np.stack(target), np.stack(background)
    return (target + background).astype(np.float32), target, background


class SyntheticTraining:
    """Training features for SHAP's background and the slice method's mean (generated)."""

    def __init__(self, frontend, n_classes: int, seed: int = 1) -> None:
        self.frontend, self.n_classes, self.seed = frontend, n_classes, seed

    def features(self, per_class: int) -> torch.Tensor:
        waves, _, _ = make_clips(self.frontend.sr, self.n_classes * per_class, self.seed)
        with torch.inference_mode():
            return self.frontend.features(torch.from_numpy(waves)).clone()


def model_a():
    from audiointerp.models import load_classifier

    clf = load_classifier(ROOT / "weights" / "default_mel.pt", device="cpu")
    return clf.model, clf.frontend, len(clf.classes), clf.sha256


def model_b():
    from audiointerp.models import build_model, load_train_config
    from audiointerp.processing import build_frontend

    frontend = build_frontend(load_train_config(ROOT / "configs" / "paper_esc50_mel.yaml").frontend)
    torch.manual_seed(0)
    model = build_model("cnn14", num_classes=10, num_bins=frontend.n_bins, width=1.0)
    return model.eval(), frontend, 10, None  # random init: no file, no learned interpreter


def usage() -> tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime, r.ru_minflt + r.ru_majflt


def bench_model(
    label, model, frontend, n_classes, sha256, cfg, methods, n_clips, sizes, repeats, curves=True
):
    """Rows of (method, s/clip, forward rows, grad rows, floor s, ratio, faults, sys s) per clip."""
    from audiointerp.experiments.core import StageTimer, explain_batch, prepare_batch
    from audiointerp.interpretation import MethodContext, build_method, resolve_method

    waves, target, background = make_clips(frontend.sr, n_clips + 1, seed=0)
    x1 = None
    with torch.inference_mode():
        x1 = frontend.features(torch.from_numpy(waves[:1])).clone()
    floors = [per_row_seconds(model, x1, sizes, repeats)]  # before each method and after the last
    context = MethodContext(
        model, frontend, SyntheticTraining(frontend, n_classes), model_sha256=sha256
    )
    counter = EvalCounter(model)
    rows = []

    def prepare(lo, hi, timer=None):
        sl = slice(lo, hi)
        return prepare_batch(
            model,
            frontend,
            waves[sl],
            ids=[f"clip{i}" for i in range(lo, hi)],
            labels=np.zeros(hi - lo, dtype=np.int64),
            categories=["tone"] * (hi - lo),
            target=target[sl].astype(np.float32),
            background=background[sl].astype(np.float32),
            timer=timer,
        )

    def explain(batch, method, name, timer=None):
        explain_batch(
            batch,
            method,
            model=model,
            frontend=frontend,
            method_name=name,
            masks=cfg.masks,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
            resynth_route=cfg.resynth_route,
            curve_fills=cfg.curve_fills if curves and cfg.curves_on("clean") else (),
            timer=timer,
        )

    # As in the grid, one prepared batch serves every method (runner._groups): its cost and
    # model rows are shared by the methods of the model, and each method is charged its share.
    warm = prepare(0, 1)
    counter.reset()
    timer = StageTimer()
    t0 = time.perf_counter()
    batch = prepare(1, n_clips + 1, timer)
    prep_s = (time.perf_counter() - t0) / n_clips
    prep_rows = counter.forward / n_clips
    prep_model_s = counter.forward_s / n_clips
    prep_stages = ", ".join(f"{k} {1000 * v / n_clips:.0f}" for k, v in timer.seconds.items())
    built = []
    for name in methods:
        options = cfg.methods.get(name, {})
        cls, _ = resolve_method(name, options)
        if cls.unsupported(model) is not None:
            continue
        built.append((name, build_method(name, dict(options or {}), context)))
    share = 1.0 / max(len(built), 1)
    print(
        f"  {label} prepare (analysis, prediction, ideal mask, SI-SDR of the mix): "
        f"{prep_s:.3f} s/clip, {prep_rows:.0f} forward rows/clip (ms/clip: {prep_stages}); "
        f"each of the {len(built)} methods is charged 1/{len(built)} of it",
        flush=True,
    )
    for name, method in built:
        explain(warm, method, name)  # warm-up: the allocator's steady state, the explainer built
        counter.reset()
        sys0, pf0 = usage()
        timer = StageTimer()
        t0 = time.perf_counter()
        explain(batch, method, name, timer)
        seconds = (time.perf_counter() - t0) / n_clips
        sys1, pf1 = usage()
        stages = sorted(timer.seconds.items(), key=lambda kv: -kv[1])
        stages_text = ", ".join(f"{k} {1000 * v / n_clips:.0f}" for k, v in stages)
        rows.append(
            [
                name,
                seconds + share * prep_s,
                counter.forward / n_clips + share * prep_rows,
                counter.grad / n_clips,
                0.0,
                0.0,
                (pf1 - pf0) / n_clips,
                (sys1 - sys0) / n_clips,
                counter.forward_s / n_clips + share * prep_model_s,
            ]
        )
        print(f"  {label} {name}: {seconds:.3f} s/clip explained (ms/clip: {stages_text})",
              flush=True)  # fmt: skip
        floors.append(per_row_seconds(model, x1, sizes, repeats))
    # The floor is the fastest of every measurement (the least contended time of the run); a
    # shared box's speed drifts while the methods run, so each method's ratio is also printed
    # against the floor measured just before and after it ("local").
    t_f, t_fb = min(f for f, _ in floors), min(fb for _, fb in floors)
    print(
        f"model {label}: input {tuple(x1.shape[2:])}, fastest per-row forward {1000 * t_f:.2f} ms, "
        f"forward+backward {1000 * t_fb:.2f} ms (batch sizes {list(sizes)}, "
        f"{len(floors)} measurements: before, between and after the methods; forward "
        f"{1000 * t_f:.2f}-{1000 * max(f for f, _ in floors):.2f} ms across them)"
    )
    for i, r in enumerate(rows):
        r[4] = r[2] * t_f + r[3] * t_fb
        r[5] = r[1] / r[4]
        local_f = min(floors[i][0], floors[i + 1][0])
        local_fb = min(floors[i][1], floors[i + 1][1])
        local = r[1] / (r[2] * local_f + r[3] * local_fb)
        print(
            f"  {label} {r[0]:<14} {r[1]:8.3f} s/clip  evals fwd {r[2]:6.0f} fwd+bwd {r[3]:5.0f}"
            f"  floor {r[4]:8.3f} s  ratio {r[5]:5.2f} (local {local:4.2f})"
            f"  page faults {r[6]:9.0f}/clip  sys {r[7]:6.3f} s/clip",
            flush=True,
        )
        # The ratio split in two: the model's inference forwards inside the pipeline against
        # the floor's per-row time, and the rest (outside the model; the gradient rows are
        # charged at the floor, as their backward is not timed).
        per_row = r[8] / r[2] if r[2] else float("nan")
        outside = r[1] - r[8] - r[3] * t_fb
        print(
            f"  {label} {'':<14} in the model {per_row * 1000:.2f} ms/forward row "
            f"({per_row / t_f:4.2f}x the floor's), outside it {outside:.3f} s/clip "
            f"({outside / r[4]:4.2f} of the floor)",
            flush=True,
        )
    counter.remove()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and methods (<10 min)")
    parser.add_argument("--models", nargs="+", default=["A", "B"], choices=["A", "B"])
    parser.add_argument("--clips-a", type=int, default=None)
    parser.add_argument("--clips-b", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=None, help="A's methods (default: demo's)")
    parser.add_argument("--methods-b", nargs="+", default=None)
    parser.add_argument(
        "--curves-b", action="store_true", help="B with deletion/insertion curves (77 passes)"
    )
    parser.add_argument(
        "--allocator",
        choices=["fit", "fixed"],
        default="fit",
        help="fit: the package's (passes and thresholds from the working set); fixed: the "
        "earlier 1 GiB thresholds and the config's batch sizes, for comparison",
    )
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: shared box)")
    args = parser.parse_args()

    from audiointerp.experiments.grid.config import load_experiment

    torch.set_num_threads(args.threads)
    tuned = tune_allocator()
    if args.allocator == "fixed":
        import audiointerp.experiments.core.explain as explain

        explain.memory_batch_size = lambda model, example, requested: requested
        explain.tune_allocator = lambda working_set=0: tuned
    cfg = load_experiment(args.config)
    quick = args.quick
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), allocator tuned: {tuned} "
        f"({args.allocator}), "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; config {args.config}: "
        f"masks {cfg.masks or 'all 14'}, batch_size {cfg.batch_size}, curves {list(cfg.curve_fills)}"
    )
    worst = {}
    if "A" in args.models:
        model, frontend, n_classes, sha256 = model_a()
        methods = args.methods or list(cfg.methods)
        n = args.clips_a or (4 if quick else 8)
        rows = bench_model(
            "A", model, frontend, n_classes, sha256, cfg, methods, n, (1, 2, 4, 8, 16, 32, 64), 3
        )
        worst["A"] = max(rows, key=lambda r: r[5])
    if "B" in args.models:
        model, frontend, n_classes, sha256 = model_b()
        methods = args.methods_b or (
            ["saliency", "lime"] if quick else ["saliency", "gradcam", "lime", "shap"]
        )
        n = args.clips_b or 1
        sizes = (1, 16) if quick else (1, 2, 4, 8, 16, 32, 64)
        print(f"model B: deletion/insertion curves {'on' if args.curves_b else 'off'}")
        rows = bench_model(
            "B", model, frontend, n_classes, sha256, cfg, methods, n, sizes, 1, curves=args.curves_b
        )
        worst["B"] = max(rows, key=lambda r: r[5])
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    parts = [f"{k} {r[5]:.2f} ({r[0]})" for k, r in worst.items()]
    print("worst ratio to floor: " + ", ".join(parts))


if __name__ == "__main__":
    main()
