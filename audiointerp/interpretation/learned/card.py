"""Model cards of fitted interpreters, written from the checkpoint alone (``<out>.md``).

Everything on the card is read from the checkpoint (the classifier it is bound to, the data,
the fit config, the time it took and the validation numbers), so the card cannot drift from
the file it describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from audiointerp.interpretation.learned.checkpoint import read_interpreter

#: Validation columns shown on the card, in order, with their units.
CARD_METRICS = (
    ("FidIn", ""),
    ("AI", " %"),
    ("AG", " %"),
    ("AD", " %"),
    ("FF", ""),
    ("loc_auc", ""),
    ("mask_mean", ""),
)


def _table(validation: dict[str, dict[str, float]]) -> list[str]:
    cols = [m for m, _ in CARD_METRICS if any(m in v for v in validation.values())]
    lines = ["| condition | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for cond, values in validation.items():
        cells = [f"{values[c]:.3g}" if c in values else "" for c in cols]
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    return lines


def model_card(
    path: str | Path, *, command: str | None = None, notes: list[str] | None = None
) -> str:
    """The Markdown card of interpreter checkpoint ``path`` (``notes``: more fitting bullets)."""
    ckpt = read_interpreter(path)
    meta, clf, fit = ckpt.meta, ckpt.classifier, ckpt.fit
    data: dict[str, Any] = fit.get("data", {})
    opts: dict[str, Any] = fit.get("fit", {})
    size_mb = Path(path).stat().st_size / 1e6
    lines = [
        f"# Model card: `{Path(path).name}` ({ckpt.method} interpreter)",
        "",
        f"A `{ckpt.method}` interpreter fitted for the classifier `{clf.get('file')}` (SHA-256 "
        f"`{clf.get('sha256', '')[:16]}...`, {clf.get('frontend', {}).get('kind')} frontend, "
        f"{len(clf.get('classes', []))} classes); {meta.get('n_parameters', 0):,} parameters, "
        f"{size_mb:.2f} MB. Using it with any other classifier file is refused.",
        "",
        "## Data",
        "",
        f"`{data.get('root')}`: folds {data.get('train_folds')} fit ({meta.get('n_train')} "
        f"clips), fold(s) {data.get('valid_folds')} validate ({meta.get('n_valid')} clips: best "
        f"epoch and the numbers below). Training clips mixed with the noises "
        f"{opts.get('noises')} (the paper's mixing, alpha {opts.get('alpha')}, random offsets; "
        f"{100 * float(opts.get('clean_share', 0)):.0f} % left clean).",
        "",
        "## Validation (held-out fold, native mask scored by the core's rule)",
        "",
        *_table(meta.get("validation", {})),
        "",
        "FidIn, AI, AG, AD and FF as in the paper (AI/AG/AD in percent), `loc_auc` the "
        "localization AUC of the mask against the ideal mask from the stems, `mask_mean` the "
        "share of the grid the mask keeps.",
        "",
        "## Fitting",
        "",
        f"- Fit time: {meta.get('fit_seconds')} s ({meta.get('epochs_run')} epochs, best epoch "
        f"{meta.get('best_epoch')}, incl. per-epoch validation) on {meta.get('machine')}; "
        f"validation numbers: {meta.get('validation_seconds')} s more.",
        f"- Started from: {meta.get('init') or 'scratch'}.",
    ]
    if meta.get("cpu_seconds") is not None:
        load = meta.get("load_average") or [None, None]
        lines.append(
            f"- CPU time of the fit: {meta['cpu_seconds']} s with {meta.get('torch_threads')} "
            f"thread(s) (the wall time on an idle machine); load average {load[0]} at the start, "
            f"{load[1]} at the end."
        )
    lines += [f"- {n}" for n in notes or []]
    if command:
        lines.append(f"- Command: `{command}`")
    lines += [
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump({"interpreter": ckpt.config, **fit}, sort_keys=False).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    path: str | Path, *, command: str | None = None, notes: list[str] | None = None
) -> Path:
    """Write :func:`model_card` beside the checkpoint (``x.pt`` -> ``x.md``)."""
    out = Path(path).with_suffix(".md")
    out.write_text(model_card(path, command=command, notes=notes))
    return out
