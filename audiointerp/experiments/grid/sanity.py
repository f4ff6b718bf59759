"""The model-randomization sanity check of each method, as part of a grid run.

For each model, ``sanity_clips`` clean test clips (at least 20 for intervals worth reading)
are attributed with the trained model and with copies whose layers are randomized top-down
(:mod:`audiointerp.interpretation.sanity`), each clip seeded as in the grid. Three files per
model under ``<output>/<model>/``, written atomically and skipped when ``sanity.csv`` exists for the same grid (``sanity.key``):

``sanity.csv`` (one row per method; what the tables show)
    ``model``, ``method``, ``n_clips``, ``n_layers``; ``rho_top`` (mean ``|rho|`` over clips
    after the top layer is randomized); ``rho_all``, ``rho_all_low``, ``rho_all_high`` (mean
    ``|rho|`` after every layer, and its bootstrap interval); ``confidence``; ``threshold``;
    ``absolute`` (maps compared as ``|A|``); ``passed`` (bool); ``status`` (``pass``:
    ``rho_all_high < threshold``; ``fail``: ``rho_all_low >= threshold``; ``inconclusive``
    otherwise; ``skipped`` for methods that cannot run without stems, with ``note``).
``cascade.csv`` (one row per method and cascade step; the curve)
    ``model``, ``method``, ``step`` (1 = top layer randomized), ``layer`` (the layer
    randomized at that step, all above it too), ``n_clips``, ``rho_mean``, ``rho_low``,
    ``rho_high`` (mean ``|rho|`` and interval), ``rho_median``.
``sanity.png``
    The cascading curve of Adebayo et al.: mean ``|rho|`` per step with its interval, one line
    per method, the threshold dashed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from audiointerp.experiments.grid.store import atomic_write_csv, read_csv
from audiointerp.files import atomic_write_text

log = logging.getLogger(__name__)

#: Columns of ``sanity.csv`` and ``cascade.csv`` (see the module docstring).
SANITY_COLUMNS: tuple[str, ...] = (
    "model",
    "method",
    "n_clips",
    "n_layers",
    "rho_top",
    "rho_all",
    "rho_all_low",
    "rho_all_high",
    "confidence",
    "threshold",
    "absolute",
    "passed",
    "status",
    "note",
)
CASCADE_COLUMNS: tuple[str, ...] = (
    "model",
    "method",
    "step",
    "layer",
    "n_clips",
    "rho_mean",
    "rho_low",
    "rho_high",
    "rho_median",
)


def sanity_path(output: str | Path, model_name: str) -> Path:
    return Path(output) / model_name / "sanity.csv"


def cascade_path(output: str | Path, model_name: str) -> Path:
    return Path(output) / model_name / "cascade.csv"


def plot_path(output: str | Path, model_name: str) -> Path:
    return Path(output) / model_name / "sanity.png"


def key_path(output: str | Path, model_name: str) -> Path:
    return Path(output) / model_name / "sanity.key"


def sanity_done(output: str | Path, model_name: str, key: str | None) -> bool:
    """Whether ``sanity.csv`` exists and was written for ``key`` (any key when ``None``).

    A results folder can hold a check of another grid (other weights, methods or clips, or a
    committed summary): it is recomputed then, never read back as this grid's.
    """
    if not sanity_path(output, model_name).is_file():
        return False
    if key is None:
        return True
    kp = key_path(output, model_name)
    return kp.is_file() and kp.read_text(encoding="utf-8").strip() == key


def run_sanity(
    model_name: str,
    model: torch.nn.Module,
    features: torch.Tensor,
    methods: dict[str, Any],
    *,
    output: str | Path,
    ids: Sequence[str] | None = None,
    seed: int = 0,
    key: str | None = None,
) -> pd.DataFrame:
    """Run (or read back) the cascading-randomization check of ``methods`` on ``features``.

    Parameters
    ----------
    model_name : str
        Result-folder name of the model.
    model : nn.Module
        Trained classifier in eval mode.
    features : torch.Tensor (B, 1, F, T)
        Clean test clips.
    methods : dict of str to AttributionMethod
        Keyed by the names the grid reports them under (seeds depend on them).
    output : str or Path
        Results root.
    ids : sequence of str, optional
        Clip ids: each clip is attributed alone and seeded from ``(seed, method, id)``, as in
        the grid (default ``"0", "1", ...``).
    seed : int
    key : str, optional
        What the check is of (the grid's fingerprint, model, methods, clips): an existing
        ``sanity.csv`` is read back only when it was written for the same key.

    Returns
    -------
    pd.DataFrame
        ``sanity.csv``'s rows (module docstring).
    """
    from audiointerp.experiments.core.explain import attribute_clips
    from audiointerp.interpretation.sanity import cascading_randomization

    path = sanity_path(output, model_name)
    if sanity_done(output, model_name, key):
        return read_csv(path)
    if path.is_file():
        log.info("%s: recomputing the sanity check (%s was written for another grid)",
                 model_name, path)  # fmt: skip
    ids = [str(i) for i in range(features.shape[0])] if ids is None else list(ids)
    rows, curve = [], []
    for name, method in methods.items():
        base = {"model": model_name, "method": name, "n_clips": int(features.shape[0])}
        if method.needs_ground_truth:  # the ideal mask ignores the model: nothing to check
            rows.append({**base, "n_layers": 0, "passed": False, "status": "skipped",
                         "note": "reads the ideal mask, not the model"})  # fmt: skip
            continue

        def attribute(m, x, t, name=name, method=method):
            return attribute_clips(name, method, m, x, t, ids, seed=seed).attributions

        res = cascading_randomization(method, model, features, seed=seed, attribute=attribute)
        rows.append(
            {
                **base,
                "n_layers": len(res.layers),
                "rho_top": float(res.mean[0]),
                "rho_all": float(res.mean[-1]),
                "rho_all_low": float(res.low[-1]),
                "rho_all_high": float(res.high[-1]),
                "confidence": res.confidence,
                "threshold": res.threshold,
                "absolute": res.absolute,
                "passed": res.passed,
                "status": res.status,
                "note": "",
            }
        )
        for step, layer in enumerate(res.layers):
            curve.append(
                {
                    **base,
                    "step": step + 1,
                    "layer": layer,
                    "rho_mean": float(res.mean[step]),
                    "rho_low": float(res.low[step]),
                    "rho_high": float(res.high[step]),
                    "rho_median": float(np.median(np.abs(res.correlations[step]))),
                }
            )
        log.info(
            "sanity %s/%s: %s (mean |rho| %.3f [%.3f, %.3f] after %d layers)",
            model_name,
            name,
            res.status,
            res.mean[-1],
            res.low[-1],
            res.high[-1],
            len(res.layers),
        )
    df = pd.DataFrame(rows).reindex(columns=list(SANITY_COLUMNS))
    cascade = pd.DataFrame(curve).reindex(columns=list(CASCADE_COLUMNS))
    atomic_write_csv(cascade, cascade_path(output, model_name))
    if len(cascade):
        plot_cascade(
            cascade,
            plot_path(output, model_name),
            threshold=float(df["threshold"].max()),
            confidence=float(df["confidence"].max()),
        )
    if key is not None:
        atomic_write_text(key_path(output, model_name), key + "\n")
    atomic_write_csv(df, path)  # last: its presence marks the check as done
    return df


def plot_cascade(
    cascade: pd.DataFrame, path: str | Path, *, threshold: float, confidence: float = 0.95
) -> Path:
    """The cascading-randomization curve: mean ``|rho|`` and interval per step and method."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layers = cascade.sort_values("step").drop_duplicates("step")["layer"].tolist()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(layers) + 2.5), 4.0))
    for method, part in cascade.groupby("method", sort=False):
        part = part.sort_values("step")
        x = part["step"].to_numpy()
        ax.plot(x, part["rho_mean"], marker="o", label=str(method))
        ax.fill_between(x, part["rho_low"], part["rho_high"], alpha=0.2)
    ax.axhline(threshold, color="0.4", linestyle="--", linewidth=1, label="threshold")
    ax.set_xticks(range(1, len(layers) + 1), layers, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("randomized down to layer (cascading, top first)")
    ax.set_ylabel("mean |Spearman rho| with the trained model's map")
    ax.set_ylim(-0.02, 1.02)
    n = int(cascade["n_clips"].max())
    ax.set_title(
        f"Model-randomization test: {n} clips, {100 * confidence:g} % bootstrap intervals",
        fontsize=9,
    )
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
