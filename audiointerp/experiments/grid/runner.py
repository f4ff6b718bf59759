"""Run an experiment grid: models x conditions x methods x masks over a set of test clips.

:func:`run_experiment` walks the grid unit by unit through an
:class:`~.session.ExperimentSession` and the explain-and-score core
(:func:`audiointerp.experiments.core.explain_batch`), commits each unit
``(model, condition, method, unit of clips)`` atomically through :class:`~.store.ResultStore`,
skips units already on disk (so a killed run resumes where it stopped), then rebuilds the tidy
table, the paper-layout CSVs and the manifest from the units.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from audiointerp.experiments.core.batch import StageTimer
from audiointerp.experiments.core.explain import explain_batch
from audiointerp.experiments.grid import manifest as manifest_mod
from audiointerp.experiments.grid.config import ExperimentConfig, content_digests
from audiointerp.experiments.grid.session import ExperimentSession, select_clips
from audiointerp.experiments.grid.store import ResultStore, UnitKey
from audiointerp.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["KILL_AFTER_UNITS_ENV", "RunResult", "grid_units", "run_experiment", "select_clips"]

# Test hook: the process SIGKILLs itself after committing this many units (resume tests).
KILL_AFTER_UNITS_ENV = "AUDIOINTERP_KILL_AFTER_UNITS"


@dataclass
class RunResult:
    """What :func:`run_experiment` produced."""

    output: Path
    table: pd.DataFrame
    manifest: dict[str, Any]
    paths: list[Path]


def _sanity(cfg: ExperimentConfig, session: ExperimentSession) -> None:
    from audiointerp.experiments.grid.sanity import run_sanity, sanity_path

    if cfg.sanity_methods == ():  # an empty list asks for no method to be checked
        return
    for model_name, clf in session.classifiers.items():
        if sanity_path(cfg.output_dir, model_name).is_file():
            continue
        test, chosen = session.dataset(model_name)
        waves, _, ids = test.load_batch(chosen[: cfg.sanity_clips])
        with torch.inference_mode():
            feats = clf.frontend.features(torch.from_numpy(waves).to(session.device))
        feats = feats.clone()  # a normal tensor: gradient methods need requires_grad
        methods = session.methods(model_name)
        # None: every method; an empty list: none (not "every", as `or` would make it);
        # methods the model cannot run (e.g. attention methods on a CNN) were left out
        names = tuple(cfg.methods) if cfg.sanity_methods is None else cfg.sanity_methods
        run_sanity(
            model_name,
            clf.model,
            feats,
            {n: methods[n] for n in names if n in methods},
            output=cfg.output_dir,
            ids=list(ids),
            seed=cfg.seed,
        )


def reference_methods(cfg: ExperimentConfig) -> dict[str, str]:
    """The config's reference methods and what each stands for (``"chance"``, ``"input"``,
    ``"ideal"``; :attr:`AttributionMethod.reference`): the manifest's ``references`` entry,
    from which tables mark baselines without knowing method names."""
    from audiointerp.interpretation import resolve_method

    out = {}
    for name, options in cfg.methods.items():
        kind = resolve_method(name, options)[0].reference
        if kind is not None:
            out[name] = kind
    return out


def grid_units(
    cfg: ExperimentConfig, n_units: int, skip: set[tuple[str, str]] | frozenset = frozenset()
) -> list[UnitKey]:
    """Every unit of the grid, in the order the tidy table lists them (``skip``: left-out
    ``(model, method)`` pairs)."""
    return [
        UnitKey(model, cond, method, b)
        for model in cfg.models
        for cond in cfg.conditions
        for method in cfg.methods
        if (model, method) not in skip
        for b in range(n_units)
    ]


def run_experiment(cfg: ExperimentConfig, *, progress: bool = True) -> RunResult:
    """Run (or finish) the grid of ``cfg`` and write its tables and manifest.

    Parameters
    ----------
    cfg : ExperimentConfig
        The grid.
    progress : bool
        Show progress over the grid's units with the estimated time left (a tqdm bar on a
        terminal, one line per unit in logs and files).

    Returns
    -------
    RunResult
    """
    from audiointerp.runtime import tune_allocator

    tune_allocator()
    wall0 = time.perf_counter()
    timer = StageTimer()
    session = ExperimentSession(cfg, timer=timer)
    contents = content_digests(cfg)
    store = ResultStore(cfg.output_dir, cfg.fingerprint(contents))
    store.clean_temporaries()
    kill_after = int(os.environ.get(KILL_AFTER_UNITS_ENV, "0") or 0)
    done_here = skipped = 0
    n_units = session.n_units_per_block
    skips = session.skips()
    for (model, method), reason in skips.items():
        log.warning("grid %s: %s/%s left out: %s", cfg.name, model, method, reason)
    units = grid_units(cfg, n_units, set(skips))
    bar = progress_bar(  # a live bar on a terminal, one line per unit in logs
        total=len(units),
        desc=f"grid {cfg.name}",
        unit="unit",
        disable=not progress,
        dynamic_ncols=True,
    )
    for model_name, clf in session.classifiers.items():
        todo_model = [u for u in units if u.model == model_name and not store.has_unit(u)]
        if not todo_model:
            done = sum(u.model == model_name for u in units)
            bar.update(done)
            skipped += done
            continue
        methods = session.methods(model_name)
        route = session.resynth_route(model_name)
        for cond in cfg.conditions:
            for b in range(n_units):
                keys = [
                    UnitKey(model_name, cond, m, b)
                    for m in cfg.methods
                    if (model_name, m) not in skips
                ]
                todo = [k for k in keys if not store.has_unit(k)]
                if not todo:
                    bar.update(len(keys))
                    skipped += len(keys)
                    continue
                bar.set_postfix_str(f"{model_name}/{cond}/unit {b + 1}/{n_units}")
                batch = session.batch(model_name, cond, session.unit_clips(model_name, b))
                timer.count("clips", len(batch.ids))
                for key in todo:
                    result = explain_batch(
                        batch,
                        methods[key.method],
                        model=clf.model,
                        frontend=clf.frontend,
                        method_name=key.method,
                        masks=cfg.masks,
                        seed=cfg.seed,
                        batch_size=cfg.batch_size,
                        resynth_route=route,
                        curve_fills=cfg.curve_fills,
                        timer=timer,
                    )
                    rows = result.rows
                    rows.insert(0, "method", key.method)
                    rows.insert(0, "condition", key.condition)
                    rows.insert(0, "model", key.model)
                    with timer("write"):
                        if cfg.save_attributions:
                            store.write_attributions(
                                key, batch.ids, result.attributions.cpu().numpy()
                            )
                        store.write_unit(key, rows)
                    done_here += 1
                    bar.update(1)
                    if kill_after and done_here >= kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
                bar.update(len(keys) - len(todo))
                skipped += len(keys) - len(todo)
    bar.close()
    if cfg.sanity_clips > 0:
        with timer("sanity"):
            _sanity(cfg, session)

    with timer("tables"):
        table = store.combine(units)
        paths = store.write_tables(table)
    record = manifest_mod.session_record(
        timer,
        wall_s=time.perf_counter() - wall0,
        units_computed=done_here,
        units_skipped=skipped,
        device=str(session.device),
    )
    manifest = manifest_mod.write_manifest(
        cfg,
        store,
        session=record,
        contents=contents,
        resolution=session.resolutions(),
        references=reference_methods(cfg),
        **({"methods": built} if (built := session.method_descriptions()) else {}),
        skipped=[{"model": m, "method": n, "reason": r} for (m, n), r in skips.items()],
        n_rows=len(table),
        n_clips=int(table["id"].nunique()) if len(table) else 0,
    )
    paths.append(manifest_mod.manifest_path(store))
    log.info("grid %s: %d rows under %s", cfg.name, len(table), cfg.output_dir)
    return RunResult(output=cfg.output_dir, table=table, manifest=manifest, paths=paths)
