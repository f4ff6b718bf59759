"""An experiment's inputs, opened once: models, explained clips, conditions, methods.

:class:`ExperimentSession` turns an :class:`~.config.ExperimentConfig` into prepared batches:
it loads each checkpoint, opens the test folds at each model's sample rate, selects the clips
(class-balanced and seeded), loads the condition noises and the ``other_class`` pairing, and
builds each model's methods with their training context. The grid runner walks its units
through it, and ``interpret --config``, the explorer and the illustration use the same session
to explain one clip exactly as the grid does.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiointerp.errors import DatasetError, ParameterError
from audiointerp.experiments.core.batch import PreparedBatch, StageTimer, prepare_batch
from audiointerp.experiments.core.context import build_methods, method_context
from audiointerp.experiments.grid.conditions import (
    Condition,
    apply_condition,
    load_condition_noise,
    parse_condition,
    rival_indices,
)
from audiointerp.experiments.grid.config import ExperimentConfig
from audiointerp.interpretation import AttributionMethod, MethodContext

log = logging.getLogger(__name__)


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


def label_map(dataset_classes: list[str], model_classes: list[str], where: str) -> np.ndarray:
    """Data set label -> model class index (an error naming the classes the model lacks)."""
    if list(dataset_classes) == list(model_classes):
        return np.arange(len(dataset_classes))
    missing = sorted(set(dataset_classes) - set(model_classes))
    if missing:
        raise DatasetError(
            f"{where}: classes {missing[:5]} of the data are unknown to the model "
            f"(model classes: {list(model_classes)[:10]}...); keep the model's classes with "
            "data.classes (e.g. --set 'data.classes=[dog, rain]') or data.esc10, or use data "
            "the model was trained on"
        )
    return np.array([list(model_classes).index(c) for c in dataset_classes])


class ExperimentSession:
    """What a grid reads, loaded once (models, clips, noises, methods).

    Parameters
    ----------
    cfg : ExperimentConfig
    device : torch.device, optional
        Default ``cfg.device`` or CUDA when present.
    timer : StageTimer, optional
        Accumulates loading times.
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        *,
        device: torch.device | str | None = None,
        timer: StageTimer | None = None,
    ) -> None:
        from audiointerp.models import load_classifier
        from audiointerp.runtime import default_device

        self.cfg = cfg
        self.device = default_device(str(device) if device is not None else cfg.device)
        self.timer = timer or StageTimer()
        self.conditions: dict[str, Condition] = {
            c: parse_condition(c, cfg.noise_files) for c in cfg.conditions
        }
        with self.timer("load_models"):
            self.classifiers = {
                name: load_classifier(path, device=self.device) for name, path in cfg.models.items()
            }
        self._datasets: dict[int, tuple[Any, np.ndarray]] = {}
        self._noises: dict[tuple[str, int], np.ndarray | None] = {}
        self._rivals: dict[int, np.ndarray] = {}
        self._methods: dict[str, dict[str, AttributionMethod]] = {}
        self._contexts: dict[str, MethodContext] = {}
        for name in self.classifiers:
            self.dataset(name)  # open every sample rate up front: errors surface at once
        first = next(iter(self._datasets.values()))[0]
        if any(c.needs_stems for c in self.conditions.values()) and not first.has_stems:
            raise DatasetError(
                f"{cfg.data.root}: condition other_class needs a data set with stems"
            )

    # --- clips ----------------------------------------------------------------------------
    def dataset(self, model: str) -> tuple[Any, np.ndarray]:
        """The test data set at ``model``'s sample rate and the chosen clip indices."""
        sr = self.classifiers[model].frontend.sr
        if sr not in self._datasets:
            from audiointerp.data.selection import open_split

            d = self.cfg.data
            with self.timer("load_data"):
                test = open_split(d, "test", sr=sr)
            self._datasets[sr] = (test, select_clips(test.labels, d.n_clips, seed=self.cfg.seed))
        return self._datasets[sr]

    @property
    def n_clips(self) -> int:
        """Number of explained clips (the same for every model)."""
        return len(next(iter(self._datasets.values()))[1])

    @property
    def n_units_per_block(self) -> int:
        """Units per (model, condition, method): ``ceil(n_clips / clips_per_unit)``."""
        return -(-self.n_clips // self.cfg.clips_per_unit)

    def unit_clips(self, model: str, index: int) -> np.ndarray:
        """Data set indices of the clips of unit ``index`` (in the chosen clips' order)."""
        _, chosen = self.dataset(model)
        k = self.cfg.clips_per_unit
        return chosen[index * k : (index + 1) * k]

    def clip_ids(self, model: str) -> list[str]:
        """Ids of the explained clips, in unit order."""
        test, chosen = self.dataset(model)
        return [test.clips[int(i)].id for i in chosen]

    def locate(self, model: str, clip: str) -> int:
        """Position of ``clip`` (id or file name) among the explained clips."""
        test, chosen = self.dataset(model)
        index = test.index_of(clip)
        where = np.flatnonzero(chosen == index)
        if not len(where):
            raise ParameterError(
                f"clip {clip!r} is in {self.cfg.data.root} but not among the {len(chosen)} clips "
                f"this experiment explains (data.test_folds={list(self.cfg.data.test_folds)}, "
                f"data.n_clips={self.cfg.data.n_clips}); e.g. {self.clip_ids(model)[:3]}"
            )
        return int(where[0])

    def noise(self, condition: str, sr: int) -> np.ndarray | None:
        key = (condition, sr)
        if key not in self._noises:
            self._noises[key] = load_condition_noise(
                self.conditions[condition],
                noises_dir=self.cfg.noises_dir,
                sr=sr,
                duration_s=self.cfg.data.duration_s,
            )
        return self._noises[key]

    def rivals(self, model: str) -> np.ndarray:
        """For each chosen clip, the data set index of its ``other_class`` rival."""
        test, chosen = self.dataset(model)
        sr = self.classifiers[model].frontend.sr
        if sr not in self._rivals:
            ids = [test.clips[i].id for i in chosen]
            self._rivals[sr] = chosen[rival_indices(test.labels[chosen], ids, seed=self.cfg.seed)]
        return self._rivals[sr]

    def batch(self, model: str, condition: str, indices: np.ndarray) -> PreparedBatch:
        """Clips ``indices`` (data set indices among the chosen) under ``condition``, prepared."""
        clf = self.classifiers[model]
        test, chosen = self.dataset(model)
        cond = self.conditions[condition]
        sel = np.asarray(indices, dtype=np.int64)
        timer = self.timer
        with timer("load_audio"):
            waves, labels, ids = test.load_batch(sel)
            target = background = None
            if test.has_stems:
                stems = [test.load_stems(int(i)) for i in sel]
                target = np.stack([s["target"] for s in stems])
                background = np.stack([s["background"] for s in stems])
            if cond.needs_stems:
                pos = np.searchsorted(chosen, sel)
                rivals = self.rivals(model)
                added = np.stack([test.load_stems(int(rivals[p]))["target"] for p in pos])
            else:
                added = self.noise(condition, clf.frontend.sr)
        with timer("condition"):
            cb = apply_condition(
                cond,
                waves,
                added=added,
                target=target,
                background=background,
                alpha=self.cfg.paper_alpha,
            )
        to_model = label_map(test.classes, clf.classes, self.cfg.models[model])
        return prepare_batch(
            clf.model,
            clf.frontend,
            cb.waves,
            ids=list(ids),
            labels=to_model[np.asarray(labels)],
            categories=[test.clips[int(i)].category for i in sel],
            target=cb.target,
            background=cb.background,
            device=self.device,
            timer=timer,
        )

    # --- methods --------------------------------------------------------------------------
    def skips(self) -> dict[tuple[str, str], str]:
        """``(model, method) -> reason`` for the pairs the grid cannot run and leaves out: a
        method the model does not support (its ``model_kinds``/``requires``), or one that
        reads the ideal mask on data without stems."""
        from audiointerp.interpretation import resolve_method

        out = {}
        for model, clf in self.classifiers.items():
            has_stems = self.dataset(model)[0].has_stems
            for name, options in self.cfg.methods.items():
                cls, _ = resolve_method(name, options)
                reason = cls.unsupported(clf.model)
                if reason is None and cls.needs_ground_truth and not has_stems:
                    reason = f"method {name!r} needs stems (ground truth) and {self.cfg.data.root} has none"
                if reason is not None:
                    out[(model, name)] = reason
        return out

    def context(self, model: str) -> MethodContext:
        """The method context of ``model``: its frontend and the training folds of the data."""
        if model not in self._contexts:
            clf = self.classifiers[model]
            self._contexts[model] = method_context(
                clf.model,
                clf.frontend,
                data=self.cfg.data,
                seed=self.cfg.seed,
                device=self.device,
                model_sha256=clf.sha256,
            )
        return self._contexts[model]

    def methods(self, model: str) -> dict[str, AttributionMethod]:
        """Every method of the config built for ``model`` (once, with its training context)."""
        if model not in self._methods:
            skipped = {m for (name, m) in self.skips() if name == model}
            wanted = {  # per-device batch sizes (config.device_batch_size) applied
                m: self.cfg.method_options(m, self.device.type)
                for m in self.cfg.methods
                if m not in skipped
            }
            with self.timer("prepare_methods"):
                self._methods[model] = build_methods(wanted, self.context(model))
        return self._methods[model]

    def method_descriptions(self) -> dict[str, dict[str, Any]]:
        """Per model, each built method's options and the context's notes (for manifests)."""
        return {
            model: {
                "methods": {name: m.describe() for name, m in methods.items()},
                "notes": list(self.context(model).notes),
            }
            for model, methods in self._methods.items()
        }

    def input_size(self, model: str) -> tuple[int, int]:
        """``(n_bins, n_frames)`` of ``model``'s input for the explained clips (the first
        clip's length when the data has no fixed duration)."""
        frontend = self.classifiers[model].frontend
        duration = self.cfg.data.duration_s
        if duration is not None:
            length = int(round(duration * frontend.sr))
        else:
            test, chosen = self.dataset(model)
            length = test.load_batch(chosen[:1])[0].shape[-1]
        return frontend.n_bins, frontend.n_frames(length)

    def resolutions(self) -> dict[str, dict[str, list[int] | None]]:
        """Per model and method, the effective map grid ``[n_freq, n_time]`` for the explained
        clips (:meth:`AttributionMethod.resolution`; ``None`` = adaptive segments): the run
        manifest's ``resolution`` entry, which the tables' notes state."""
        out: dict[str, dict[str, list[int] | None]] = {}
        for model, clf in self.classifiers.items():
            n_bins, n_frames = self.input_size(model)
            out[model] = {}
            for name, method in self.methods(model).items():
                grid = method.resolution(clf.model, n_bins, n_frames)
                out[model][name] = None if grid is None else [int(grid[0]), int(grid[1])]
        return out

    def resynth_route(self, model: str) -> str | None:
        """The route of the masked-in audio (SI-SDR) when the data has stems, else ``None``."""
        test, _ = self.dataset(model)
        return self.cfg.resynth_route if test.has_stems else None


def clip_path(session: ExperimentSession, model: str, position: int) -> Path:
    """The audio file of the explained clip at ``position``."""
    test, chosen = session.dataset(model)
    return Path(test.clips[int(chosen[position])].path)
