"""Seconds per clip of every attribution method on the default mel CNN and the default AST,
and overhead ratios.

For the perturbation methods the floor is (model evaluations per clip) x (per-clip time of one
batched evaluation at the same batch size): a forward pass for LIME and the slice method, a
forward+backward pass for SHAP's DeepExplainer (DeepLIFT runs one backward per evaluation).
The ratio time / floor should stay <= 1.5: anything above it is overhead, not model work.
On the AST, SHAP runs GradientExplainer (DeepExplainer cannot handle attention): its floor is
``n_samples`` forward+backward passes. Methods a model does not support are left out (the
attention methods on the CNN). The unit costs are measured right before and after each method,
since the box may be shared.

    python benchmarks/bench_methods.py [--clips 16] [--lime-samples 1000] [--repeats 3]
        [--weights weights/default_mel.pt weights/default_ast.pt]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from audiointerp.runtime import tune_allocator

WEIGHTS = ("weights/default_mel.pt", "weights/default_ast.pt")


def load_model(weights: str, n_classes: int = 10) -> tuple[torch.nn.Module, object, str]:
    """A committed classifier, or a fresh model of its config's architecture if not trained yet
    (``weights/default_X.pt`` is trained with ``configs/default_X.yaml``)."""
    from audiointerp.models import load_classifier, load_train_config, model_from_config
    from audiointerp.processing import build_frontend

    path = Path(weights)
    if path.exists():
        clf = load_classifier(path, device="cpu")
        return clf.model, clf.frontend, f"{path} (trained)"
    cfg = load_train_config(Path("configs") / path.with_suffix(".yaml").name)
    frontend = build_frontend(cfg.frontend)
    model = model_from_config(cfg.model, num_classes=n_classes, num_bins=frontend.n_bins)
    return model.eval(), frontend, f"FRESH {cfg.model.arch} ({path} missing: untrained)"


def test_features(frontend, n_clips: int, seed: int = 0) -> torch.Tensor:
    """Log-mel features of ``n_clips`` 5 s clips: tones and noise bursts at random times."""
    rng = np.random.default_rng(seed)
    sr, n = frontend.sr, int(5.0 * frontend.sr)
    t = np.arange(n) / sr
    waves = []
    for _ in range(n_clips):
        on = (t > rng.uniform(0, 2.5)) & (t < rng.uniform(3, 5))
        y = np.sin(2 * np.pi * rng.uniform(200, 3000) * t) * on + 0.1 * rng.standard_normal(n)
        waves.append(y / np.abs(y).max())
    with torch.no_grad():
        return frontend.features(torch.tensor(np.stack(waves), dtype=torch.float32))


def per_clip(fn, n_clips: int, repeats: int, *, warmup: bool = True) -> float:
    """Median seconds per clip of ``fn()`` over ``repeats`` runs (after one warm-up)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / n_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16, help="clips per call (= batch size)")
    parser.add_argument("--lime-samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--weights", nargs="+", default=list(WEIGHTS))
    args = parser.parse_args()
    tune_allocator()
    torch.set_grad_enabled(True)
    for weights in args.weights:
        bench_model(weights, args)
        print()


def bench_model(weights: str, args: argparse.Namespace) -> None:
    from audiointerp.interpretation import get_method, method_class
    from audiointerp.interpretation.shap_method import explainer_for

    model, frontend, which = load_model(weights)
    x = test_features(frontend, args.clips)
    bs = args.clips
    print(f"model: {which}; input {tuple(x.shape)}; batch {bs}; {torch.get_num_threads()} threads")
    print("note: shared 2-core CPU box, other jobs running; read ratios, not absolute times")

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        xg = x.clone().requires_grad_()
        model(xg)[:, 0].sum().backward()

    t_fwd = per_clip(forward, bs, args.repeats * 3)
    t_fb = per_clip(forward_backward, bs, args.repeats * 3)
    print(
        f"forward {1e3 * t_fwd:.2f} ms/clip, forward+backward {1e3 * t_fb:.2f} ms/clip (at start)"
    )

    n_bg = 20  # 2 clips per class x 10 classes, as in the paper
    background = test_features(frontend, n_bg, seed=1)
    plans = {
        "saliency": ({}, None, None),
        "gradcam": ({}, None, None),
        "ig": ({}, None, None),
        "slice": ({}, 3 * 3 + 1, forward),
        "lime": ({"n_samples": args.lime_samples}, args.lime_samples, forward),
        "shap": ({"background": background}, 2 * n_bg, forward_backward),
        "amt": ({}, None, None),
        "rollout": ({}, None, None),
        "grad_attention": ({}, None, None),
    }
    if explainer_for("deep", model) == "gradient":  # expected gradients: n_samples passes
        plans["shap"] = ({"background": background, "n_samples": 200}, 200, forward_backward)
    print(f"{'method':10s} {'s/clip':>8s} {'evals/clip':>10s} {'floor s/clip':>12s} {'ratio':>6s}")
    for name, (opts, evals, unit) in plans.items():
        if (args.methods and name not in args.methods) or method_class(name).unsupported(model):
            continue
        method = get_method(name, batch_size=bs, **opts)
        # the costly methods run once: the model and allocator are warm by now
        costly = name in ("lime", "ig", "shap")
        reps, warm = (1, False) if costly else (args.repeats, True)
        if evals is None:
            t = per_clip(lambda m=method: m.attribute(model, x), bs, reps, warmup=warm)
            print(f"{name:10s} {t:8.3f}")
            continue
        # the box is shared: measure the unit cost right before and after the method
        before = per_clip(unit, bs, args.repeats * 3)
        t = per_clip(lambda m=method: m.attribute(model, x), bs, reps, warmup=warm)
        after = per_clip(unit, bs, args.repeats * 3)
        floor = evals * (before + after) / 2
        print(f"{name:10s} {t:8.3f} {evals:10d} {floor:12.3f} {t / floor:6.2f}")


if __name__ == "__main__":
    main()
