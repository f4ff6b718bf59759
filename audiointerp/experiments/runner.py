"""Run an experiment grid: models x conditions x methods x masks over a set of test clips.

:func:`run_experiment` walks the grid batch by batch, commits each unit
``(model, condition, method, batch)`` atomically through :class:`~.store.ResultStore`, skips
units already on disk (so a killed run resumes where it stopped), then rebuilds the tidy table,
the paper-layout CSVs and the manifest from the units.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from audiointerp.errors import DatasetError, ParameterError
from audiointerp.experiments import manifest as manifest_mod
from audiointerp.experiments.batch import StageTimer, attribute, method_rows, prepare_batch
from audiointerp.experiments.conditions import (
    apply_condition,
    load_condition_noise,
    parse_condition,
    rival_indices,
)
from audiointerp.experiments.config import ExperimentConfig
from audiointerp.experiments.methods import build_methods
from audiointerp.experiments.store import ResultStore, UnitKey

log = logging.getLogger(__name__)

# Test hook: the process SIGKILLs itself after committing this many units (resume tests).
KILL_AFTER_UNITS_ENV = "AUDIOINTERP_KILL_AFTER_UNITS"


@dataclass
class RunResult:
    """What :func:`run_experiment` produced."""

    output: Path
    table: pd.DataFrame
    manifest: dict[str, Any]
    paths: list[Path]


def select_clips(labels: np.ndarray, n_clips: int | None, *, seed: int) -> np.ndarray:
    """Class-balanced, seeded choice of ``n_clips`` indices (all if ``None``), in data set order.

    Clips are ranked within their class by a seeded permutation and taken rank by rank, so any
    ``n_clips`` covers the classes as evenly as possible and a larger ``n_clips`` extends a
    smaller one.
    """
    labels = np.asarray(labels)
    if n_clips is None or n_clips >= len(labels):
        return np.arange(len(labels))
    order = np.random.default_rng(seed).permutation(len(labels))
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    position = np.empty(len(labels), dtype=np.int64)
    position[order] = np.arange(len(labels))
    chosen = np.lexsort((position, rank))[:n_clips]
    return np.sort(chosen)


def _open(cfg: ExperimentConfig, sr: int, folds: tuple[int, ...]):
    from audiointerp.data import open_dataset

    return open_dataset(
        cfg.data.root,
        sr=sr,
        duration_s=cfg.data.duration_s,
        folds=list(folds),
        esc10=cfg.data.esc10,
        layout=cfg.data.layout,
    )


def _label_map(dataset_classes: list[str], model_classes: list[str], where: str) -> np.ndarray:
    if list(dataset_classes) == list(model_classes):
        return np.arange(len(dataset_classes))
    missing = sorted(set(dataset_classes) - set(model_classes))
    if missing:
        raise DatasetError(
            f"{where}: classes {missing[:5]} of the data are unknown to the model "
            f"(model classes: {list(model_classes)[:10]}...); use data the model was trained on"
        )
    return np.array([list(model_classes).index(c) for c in dataset_classes])


def _sanity(cfg: ExperimentConfig, loaded: dict, datasets: dict, device: Any) -> None:
    from audiointerp.experiments.sanity import run_sanity, sanity_path

    for model_name, clf in loaded.items():
        if sanity_path(cfg.output_dir, model_name).is_file():
            continue
        test, chosen = datasets[clf.frontend.sr]
        waves, _, _ = test.load_batch(chosen[: cfg.sanity_clips])
        with torch.inference_mode():
            feats = clf.frontend.features(torch.from_numpy(waves).to(device))
        feats = feats.clone()  # a normal tensor: gradient methods need requires_grad
        methods = build_methods(cfg, clf.model, clf.frontend, clf.classes, device=device)
        names = cfg.sanity_methods or tuple(cfg.methods)
        run_sanity(
            model_name,
            clf.model,
            feats,
            {n: methods[n] for n in names},
            output=cfg.output_dir,
            seed=cfg.seed,
        )


def grid_units(cfg: ExperimentConfig, n_batches: int) -> list[UnitKey]:
    """Every unit of the grid, in the order the tidy table lists them."""
    return [
        UnitKey(model, cond, method, b)
        for model in cfg.models
        for cond in cfg.conditions
        for method in cfg.methods
        for b in range(n_batches)
    ]


def run_experiment(cfg: ExperimentConfig, *, progress: bool = True) -> RunResult:
    """Run (or finish) the grid of ``cfg`` and write its tables and manifest.

    Parameters
    ----------
    cfg : ExperimentConfig
        The grid.
    progress : bool
        Show a tqdm bar over the grid's units with the estimated time left.

    Returns
    -------
    RunResult
    """
    from audiointerp.interpretation.masks import MASK_NAMES, make_masks
    from audiointerp.models import load_classifier
    from audiointerp.runtime import default_device, tune_allocator

    tune_allocator()
    wall0 = time.perf_counter()
    device = default_device(cfg.device)
    conditions = [parse_condition(c) for c in cfg.conditions]
    mask_names = list(cfg.masks or MASK_NAMES)
    unknown = sorted(set(mask_names) - set(MASK_NAMES))
    if unknown:
        raise ParameterError(f"masks {unknown} are not valid; choose from {list(MASK_NAMES)}")
    store = ResultStore(cfg.output_dir, cfg.fingerprint())
    store.clean_temporaries()
    timer = StageTimer()
    kill_after = int(os.environ.get(KILL_AFTER_UNITS_ENV, "0") or 0)
    done_here = skipped = 0

    with timer("load_models"):
        loaded = {name: load_classifier(path, device=device) for name, path in cfg.models.items()}
    datasets: dict[int, tuple[Any, np.ndarray]] = {}
    n_batches = None
    for clf in loaded.values():
        sr = clf.frontend.sr
        if sr not in datasets:
            with timer("load_data"):
                test = _open(cfg, sr, cfg.data.test_folds)
                if not len(test):
                    raise DatasetError(f"{cfg.data.root}: no clips in folds {cfg.data.test_folds}")
                chosen = select_clips(test.labels, cfg.data.n_clips, seed=cfg.seed)
                datasets[sr] = (test, chosen)
        n = -(-len(datasets[sr][1]) // cfg.batch_size)
        n_batches = n if n_batches is None else n_batches
    if any(c.needs_stems for c in conditions) and not next(iter(datasets.values()))[0].has_stems:
        raise DatasetError(f"{cfg.data.root}: condition other_class needs a data set with stems")

    units = grid_units(cfg, n_batches)
    bar = tqdm(
        total=len(units),
        desc=f"grid {cfg.name}",
        unit="unit",
        disable=not progress,
        dynamic_ncols=True,
    )
    for model_name, clf in loaded.items():
        model, frontend = clf.model, clf.frontend
        test, chosen = datasets[frontend.sr]
        labels_to_model = _label_map(test.classes, clf.classes, cfg.models[model_name])
        todo_model = [u for u in units if u.model == model_name and not store.has_unit(u)]
        if not todo_model:
            done = sum(u.model == model_name for u in units)
            bar.update(done)
            skipped += done
            continue
        with timer("prepare_methods"):
            methods = build_methods(cfg, model, frontend, clf.classes, device=device)
        resynth = None
        if test.has_stems:

            def resynth(spec, mask, _f=frontend):
                return _f.resynthesize(spec, mask, route=cfg.resynth_route)

        rivals = None
        for cond in conditions:
            noise = load_condition_noise(
                cond, noises_dir=cfg.noises_dir, sr=frontend.sr, duration_s=cfg.data.duration_s
            )
            if cond.needs_stems and rivals is None:
                all_labels = test.labels[chosen]
                rivals = chosen[
                    rival_indices(all_labels, [test.clips[i].id for i in chosen], seed=cfg.seed)
                ]
            for b in range(n_batches):
                keys = [UnitKey(model_name, cond.name, m, b) for m in cfg.methods]
                todo = [k for k in keys if not store.has_unit(k)]
                if not todo:
                    bar.update(len(keys))
                    skipped += len(keys)
                    continue
                bar.set_postfix_str(f"{model_name}/{cond.name}/batch {b + 1}/{n_batches}")
                sel = chosen[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                with timer("load_audio"):
                    waves, labels, ids = test.load_batch(sel)
                    target = background = added = None
                    if test.has_stems:
                        stems = [test.load_stems(int(i)) for i in sel]
                        target = np.stack([s["target"] for s in stems])
                        background = np.stack([s["background"] for s in stems])
                    if cond.needs_stems:
                        pos = np.searchsorted(chosen, sel)
                        added = np.stack([test.load_stems(int(rivals[p]))["target"] for p in pos])
                    else:
                        added = noise
                with timer("condition"):
                    cb = apply_condition(
                        cond,
                        waves,
                        added=added,
                        target=target,
                        background=background,
                        alpha=cfg.paper_alpha,
                    )
                batch = prepare_batch(
                    model,
                    frontend,
                    cb.waves,
                    ids=list(ids),
                    labels=labels_to_model[np.asarray(labels)],
                    categories=[test.clips[int(i)].category for i in sel],
                    target=cb.target,
                    background=cb.background,
                    device=device,
                    max_batch=cfg.max_forward_batch,
                    timer=timer,
                )
                timer.count("clips", len(sel))
                for key in todo:
                    with timer(f"attribute_{key.method}"):
                        attr = attribute(
                            key.method, methods[key.method], model, batch, seed=cfg.seed
                        )
                    with timer("masks"):
                        masks = make_masks(attr, mask_names)
                    rows = method_rows(
                        batch,
                        attr,
                        masks,
                        model=model,
                        frontend=frontend,
                        resynthesize=resynth,
                        max_batch=cfg.max_forward_batch,
                        timer=timer,
                    )
                    rows.insert(0, "method", key.method)
                    rows.insert(0, "condition", key.condition)
                    rows.insert(0, "model", key.model)
                    with timer("write"):
                        if cfg.save_attributions:
                            store.write_attributions(key, batch.ids, attr.cpu().numpy())
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
            _sanity(cfg, loaded, datasets, device)

    with timer("tables"):
        table = store.combine(units)
        paths = store.write_tables(table)
    session = manifest_mod.session_record(
        timer,
        wall_s=time.perf_counter() - wall0,
        units_computed=done_here,
        units_skipped=skipped,
        device=str(device),
    )
    manifest = manifest_mod.write_manifest(
        cfg,
        store,
        session=session,
        n_rows=len(table),
        n_clips=int(table["id"].nunique()) if len(table) else 0,
    )
    paths.append(manifest_mod.manifest_path(store))
    log.info("grid %s: %d rows under %s", cfg.name, len(table), cfg.output_dir)
    return RunResult(output=cfg.output_dir, table=table, manifest=manifest, paths=paths)
