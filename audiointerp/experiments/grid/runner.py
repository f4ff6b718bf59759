"""Run an experiment grid, or one shard of it: models x conditions x methods x masks over clips.

:func:`run_experiment` plans the grid's canonical units (:mod:`.units`), takes its shard's lock,
verifies the units already on disk (a damaged or partial unit is recomputed with a warning),
computes the missing ones through an :class:`~.session.ExperimentSession` and the
explain-and-score core (:func:`audiointerp.experiments.core.explain_batch`), committing each
unit atomically with its completion record (:class:`~.store.ResultStore`), so a killed run
resumes where it stopped. The whole grid (shard ``0/1``) then merges itself
(:func:`~.merge.merge_store`); shards of a larger layout leave that to ``audiointerp merge``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from audiointerp.config import to_dict
from audiointerp.experiments.core.batch import StageTimer
from audiointerp.experiments.core.explain import explain_batch
from audiointerp.experiments.grid import manifest as manifest_mod
from audiointerp.experiments.grid.config import ExperimentConfig, content_digests
from audiointerp.experiments.grid.lock import LockHeldError, lock_is_held
from audiointerp.experiments.grid.session import ExperimentSession, select_clips
from audiointerp.experiments.grid.store import ResultStore
from audiointerp.experiments.grid.units import WHOLE, GridPlan, ShardSpec, Unit, plan_grid
from audiointerp.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = [
    "KILL_AFTER_UNITS_ENV",
    "RunResult",
    "open_plan",
    "run_experiment",
    "select_clips",
    "worker_device",
]

# Test hook: the process SIGKILLs itself after committing this many units (resume tests).
KILL_AFTER_UNITS_ENV = "AUDIOINTERP_KILL_AFTER_UNITS"
# Damaged or partial units named one by one in the log; the rest are counted.
_WARN_UNITS = 10


@dataclass
class RunResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    output : Path
        Results root.
    table : pd.DataFrame
        The merged tidy table (empty for a shard of a larger layout: merge writes it).
    manifest : dict
        The merged grid's manifest, or this shard's session record.
    paths : list of Path
        Files written by the merge.
    run_dir : Path
        ``<output>/runs/<fingerprint>``.
    shard : ShardSpec
    units_computed, units_done, units_total : int
        This shard's units computed now, found complete, and in all.
    merged : bool
        Whether the tables were written.
    """

    output: Path
    table: pd.DataFrame
    manifest: dict[str, Any]
    paths: list[Path]
    run_dir: Path = field(default_factory=Path)
    shard: ShardSpec = WHOLE
    units_computed: int = 0
    units_done: int = 0
    units_total: int = 0
    merged: bool = True


def worker_device(requested: str | None, shard: ShardSpec = WHOLE) -> torch.device:
    """The device a worker computes on.

    An explicit ``device`` in the config wins. Otherwise a worker uses CUDA when it sees a GPU
    (under Slurm with ``--gpus-per-task``, the one GPU it was given) and the CPU when it sees
    none; a shard that sees several GPUs takes GPU ``index % count``, so shards launched on
    one multi-GPU machine spread over its GPUs.
    """
    if requested:
        return torch.device(requested)
    if not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    return torch.device("cuda", shard.index % count if count > 1 else 0)


def config_yaml(cfg: ExperimentConfig) -> str:
    """``cfg`` as the YAML saved in its run folder (reloads to the same fingerprint)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def clip_batches(session: ExperimentSession) -> dict[str, list[list[str]]]:
    """Per model, the clip ids of each batch index."""
    out = {}
    for model in session.classifiers:
        test, _ = session.dataset(model)
        out[model] = [
            [test.clips[int(i)].id for i in session.unit_clips(model, b)]
            for b in range(session.n_units_per_block)
        ]
    return out


def open_plan(
    cfg: ExperimentConfig, session: ExperimentSession, store: ResultStore
) -> tuple[GridPlan, dict[tuple[str, str], str]]:
    """Plan the grid from ``session`` and save it in the run folder (or check it matches the
    plan already there); returns the plan and the left-out (model, method) pairs."""
    skips = session.skips()
    plan = plan_grid(cfg, store.fingerprint, clip_batches=clip_batches(session), skipped=skips)
    return store.save_plan(plan, config_yaml(cfg)), skips


def _check_layout(store: ResultStore, shard: ShardSpec) -> None:
    """Refuse to run next to live shards of another layout (they would own other units)."""
    for path in sorted(store.run_dir.glob("shard-*-of-*.lock")):
        count = path.stem.rsplit("-of-", 1)[-1]
        if count == str(shard.count):
            continue
        holder = lock_is_held(path)
        if holder is not None:
            raise LockHeldError(
                f"{path}: shard {holder.get('shard', '?')} of this grid is running "
                f"(pid {holder.get('pid')} on host {holder.get('host')}); shards of one run must "
                f"share a layout: use --shard i/{count}, or wait for it to finish"
            )


def _sanity(cfg: ExperimentConfig, session: ExperimentSession, fingerprint: str) -> None:
    from audiointerp.experiments.grid.sanity import run_sanity, sanity_done

    if cfg.sanity_methods == ():  # an empty list asks for no method to be checked
        return
    for model_name, clf in session.classifiers.items():
        methods = session.methods(model_name)
        # None: every method; an empty list: none (not "every", as `or` would make it).
        # Methods the model cannot run (e.g. attention methods on a CNN) were left out.
        names = tuple(cfg.methods) if cfg.sanity_methods is None else cfg.sanity_methods
        names = tuple(n for n in names if n in methods)
        # The fingerprint covers weights, methods and data (not the sanity settings, so rows
        # resume): with them it names the check, and a check of another grid in this folder
        # (or a committed summary) is recomputed, never read back as this one.
        key = f"{fingerprint}/{model_name}/{cfg.sanity_clips}/{','.join(names)}"
        if sanity_done(cfg.output_dir, model_name, key):
            continue
        test, chosen = session.dataset(model_name)
        waves, _, ids = test.load_batch(chosen[: cfg.sanity_clips])
        with torch.inference_mode():
            feats = clf.frontend.features(torch.from_numpy(waves).to(session.device))
        feats = feats.clone()  # a normal tensor: gradient methods need requires_grad
        run_sanity(
            model_name,
            clf.model,
            feats,
            {n: methods[n] for n in names},
            output=cfg.output_dir,
            ids=list(ids),
            seed=cfg.seed,
            key=key,
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


def _groups(units: Sequence[Unit]) -> dict[tuple[str, str, int], list[Unit]]:
    """Units by (model, condition, batch), in order of first appearance: one prepared batch
    serves every method of a group."""
    out: dict[tuple[str, str, int], list[Unit]] = {}
    for u in units:
        out.setdefault((u.model, u.condition, u.batch), []).append(u)
    return out


def _compute(
    cfg: ExperimentConfig,
    session: ExperimentSession,
    store: ResultStore,
    todo: Sequence[Unit],
    *,
    shard: ShardSpec,
    timer: StageTimer,
    bar: Any,
) -> int:
    """Compute and commit ``todo``; returns how many units were committed."""
    kill_after = int(os.environ.get(KILL_AFTER_UNITS_ENV, "0") or 0)
    batch_size = cfg.batch_size_for(session.device.type)
    done = 0
    for (model, condition, b), units in _groups(todo).items():
        clf = session.classifiers[model]
        methods = session.methods(model)
        bar.set_postfix_str(f"{model}/{condition}/batch {b}")
        batch = session.batch(model, condition, session.unit_clips(model, b))
        timer.count("clips", len(batch.ids))
        for unit in units:
            if tuple(batch.ids) != unit.clips:  # the plan was checked; this guards the session
                raise RuntimeError(f"unit {unit.name}: clips {batch.ids} differ from the plan")
            t0 = time.perf_counter()
            result = explain_batch(
                batch,
                methods[unit.method],
                model=clf.model,
                frontend=clf.frontend,
                method_name=unit.method,
                masks=cfg.masks,
                seed=cfg.seed,
                batch_size=batch_size,
                resynth_route=session.resynth_route(model),
                curve_fills=cfg.curve_fills if cfg.curves_on(condition) else (),
                timer=timer,
            )
            rows = result.rows
            rows.insert(0, "method", unit.method)
            rows.insert(0, "condition", unit.condition)
            rows.insert(0, "model", unit.model)
            with timer("write"):
                if cfg.save_attributions:
                    store.write_attributions(unit, batch.ids, result.attributions.cpu().numpy())
                store.write_unit(
                    unit,
                    rows,
                    shard=str(shard),
                    device=str(session.device),
                    seconds=round(time.perf_counter() - t0, 3),
                )
            done += 1
            bar.update(1)
            if kill_after and done >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
    return done


def run_experiment(
    cfg: ExperimentConfig,
    *,
    progress: bool = True,
    shard: ShardSpec | None = None,
    wait_lock: float | None = 0.0,
    threads: int | None = None,
) -> RunResult:
    """Run (or finish) the grid of ``cfg``, or one shard of it.

    Parameters
    ----------
    cfg : ExperimentConfig
        The grid.
    progress : bool
        Show progress over the shard's units with the estimated time left (a tqdm bar on a
        terminal, one line per unit in logs and files).
    shard : ShardSpec, optional
        Run only units ``i::n`` (default: the whole grid, which then merges itself).
    wait_lock : float or None
        Seconds to wait when another process runs the same shard on the same output folder
        (0: stop at once with a message naming it; ``None``: wait as long as it takes).
    threads : int, optional
        Torch threads of this worker (default: torch's own choice).

    Returns
    -------
    RunResult

    Raises
    ------
    LockHeldError
        If the same shard of the grid is running in the same output folder.
    """
    from audiointerp.experiments.grid.merge import merge_store
    from audiointerp.runtime import tune_allocator

    shard = shard or WHOLE
    if threads:
        torch.set_num_threads(int(threads))
    tune_allocator()
    wall0 = time.perf_counter()
    timer = StageTimer()
    contents = content_digests(cfg)
    store = ResultStore(cfg.output_dir, cfg.fingerprint(contents))
    with store.shard_lock(shard, name=cfg.name).acquire(wait_s=wait_lock):
        _check_layout(store, shard)
        session = ExperimentSession(cfg, device=worker_device(cfg.device, shard), timer=timer)
        plan, skips = open_plan(cfg, session, store)
        for (model, method), reason in skips.items():
            log.warning("grid %s: %s/%s left out: %s", cfg.name, model, method, reason)
        mine = plan.shard(shard)
        if n_removed := store.clean_temporaries(mine):
            log.info("removed %d temporary file(s) of killed writes", n_removed)
        states = store.check_units(mine)
        bad = [st for st in states if st.status not in ("complete", "missing")]
        for st in bad[:_WARN_UNITS]:
            log.warning("grid %s: recomputing %s unit %s", cfg.name, st.status, st.describe())
        if len(bad) > _WARN_UNITS:
            log.warning("grid %s: recomputing %d more damaged or partial units", cfg.name,
                        len(bad) - _WARN_UNITS)  # fmt: skip
        todo = [st.unit for st in states if not st.complete]
        label = f"grid {cfg.name}" + ("" if shard.whole else f" shard {shard}")
        with progress_bar(  # a live bar on a terminal, one line per unit in logs
            total=len(mine), desc=label, unit="unit", disable=not progress, dynamic_ncols=True
        ) as bar:
            bar.update(len(mine) - len(todo))
            computed = _compute(cfg, session, store, todo, shard=shard, timer=timer, bar=bar)
        if cfg.sanity_clips > 0 and shard.index == 0:
            with timer("sanity"):
                _sanity(cfg, session, store.fingerprint)
        record = manifest_mod.session_record(
            timer,
            wall_s=time.perf_counter() - wall0,
            shard=str(shard),
            units_computed=computed,
            units_skipped=len(mine) - len(todo),
            device=str(session.device),
            contents=contents,
            resolution=session.resolutions(),
            **({"methods": built} if (built := session.method_descriptions()) else {}),
        )
        manifest_mod.write_session(store, record)
        result = RunResult(
            output=cfg.output_dir,
            table=pd.DataFrame(),
            manifest=record,
            paths=[],
            run_dir=store.run_dir,
            shard=shard,
            units_computed=computed,
            units_done=len(mine) - len(todo),
            units_total=len(mine),
            merged=False,
        )
        if not shard.whole:
            log.info(
                "%s: %d units computed, %d already complete; when every shard is done: "
                "audiointerp merge %s",
                label,
                computed,
                result.units_done,
                store.run_dir,
            )
            return result
        merged = merge_store(store, cfg, plan, contents=contents)
    result.table, result.manifest, result.paths = merged.table, merged.manifest, merged.paths
    result.merged = True
    log.info("grid %s: %d rows under %s", cfg.name, len(merged.table), cfg.output_dir)
    return result
