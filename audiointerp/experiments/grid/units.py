"""Canonical units of an experiment grid, their digests, the grid's plan and its shards.

A grid (:class:`~.config.ExperimentConfig`) is cut into *units*: one model, one condition, one
method and one batch of clips. Each unit is described canonically (the grid's fingerprint, the
four names, the batch index and the ids of its clips) and keyed by the SHA-256 of that
description as canonical JSON, never by Python's ``hash()`` (salted per process). The
:class:`GridPlan` lists every unit of a grid in one canonical order, sorted by model, condition
and method name, then batch, so it depends only on what the grid computes, not on how its YAML
lists things. Shard ``i`` of ``n`` takes ``units[i::n]``; with batches innermost each shard gets
a share of every method's clips.

A unit's rows do not depend on which worker runs it, in what order, or how many shards there
are: the explain-and-score core seeds every stochastic method per clip from
``(seed, method, clip id)`` (:func:`audiointerp.experiments.core.clip_seed`), so the unit key
and the clip id determine every seed, and each clip's model evaluations run clip by clip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from audiointerp.errors import ParameterError
from audiointerp.files import check_path_name

#: Version of the unit description; a new layout of the store bumps it.
UNIT_FORMAT = 1


def canonical_json(obj: Any) -> bytes:
    """``obj`` as canonical JSON bytes: sorted keys, no whitespace, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class Unit:
    """One piece of the grid: a batch of clips for one model, condition and method.

    Attributes
    ----------
    grid : str
        Fingerprint of the grid (``ExperimentConfig.fingerprint()``).
    model, condition, method : str
        Names as the config gives them.
    batch : int
        Index of the clip batch (``clips_per_unit`` clips of the chosen clips, in order).
    clips : tuple of str
        Ids of the unit's clips.
    """

    grid: str
    model: str
    condition: str
    method: str
    batch: int
    clips: tuple[str, ...] = field(default=())

    def description(self) -> dict[str, Any]:
        """The canonical description the key is the digest of."""
        return {
            "format": UNIT_FORMAT,
            "grid": self.grid,
            "model": self.model,
            "condition": self.condition,
            "method": self.method,
            "batch": int(self.batch),
            "clips": list(self.clips),
        }

    @cached_property
    def key(self) -> str:
        """SHA-256 (hex) of the canonical description: the unit's identity."""
        return hashlib.sha256(canonical_json(self.description())).hexdigest()

    @property
    def stem(self) -> str:
        return f"batch_{self.batch:05d}"

    @property
    def name(self) -> str:
        """``model/condition/method/batch_00000``: how messages name the unit."""
        return f"{self.model}/{self.condition}/{self.method}/{self.stem}"

    @property
    def block(self) -> tuple[str, str, str]:
        return self.model, self.condition, self.method

    def to_dict(self) -> dict[str, Any]:
        return {**self.description(), "key": self.key}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Unit:
        unit = cls(
            str(d["grid"]),
            str(d["model"]),
            str(d["condition"]),
            str(d["method"]),
            int(d["batch"]),
            tuple(str(c) for c in d.get("clips", ())),
        )
        if "key" in d and d["key"] != unit.key:
            raise ParameterError(f"unit {unit.name}: its key does not match its description")
        return unit


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count`` (0-based): the units ``units[index::count]``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and self.count >= 1):
            raise ParameterError(
                f"the number of shards must be an integer >= 1, got {self.count!r}"
            )
        if not (isinstance(self.index, int) and 0 <= self.index < self.count):
            raise ParameterError(
                f"shard {self.index}/{self.count} does not exist: shards are numbered 0 to "
                f"{self.count - 1} (shard i of n runs units i::n), e.g. --shard 0/{self.count}"
            )

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``"i/n"`` -> ``ShardSpec(i, n)``."""
        index, sep, count = str(text).partition("/")
        try:
            if not sep:
                raise ValueError
            return cls(int(index), int(count))
        except ValueError:
            raise ParameterError(
                f"--shard {text!r} is not valid; write i/n with 0 <= i < n, e.g. --shard 0/4"
            ) from None

    def select(self, units: Sequence[Unit]) -> list[Unit]:
        return list(units[self.index :: self.count])

    @property
    def whole(self) -> bool:
        """Whether this shard is the whole grid (``0/1``)."""
        return self.count == 1

    @property
    def lock_name(self) -> str:
        return f"shard-{self.index}-of-{self.count}.lock"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = ShardSpec(0, 1)


@dataclass(frozen=True)
class GridPlan:
    """Every unit of a grid in canonical order, and the (model, method) pairs left out.

    Attributes
    ----------
    grid : str
        The grid's fingerprint.
    name : str
        The config's ``name`` (a label).
    units : tuple of Unit
        In canonical order.
    skipped : tuple of dict
        ``{"model", "method", "reason"}`` for each pair the grid cannot run.
    """

    grid: str
    name: str
    units: tuple[Unit, ...]
    skipped: tuple[dict[str, str], ...] = ()

    @cached_property
    def digest(self) -> str:
        """SHA-256 over the units' keys and the skipped pairs."""
        return hashlib.sha256(
            canonical_json({"units": [u.key for u in self.units], "skipped": list(self.skipped)})
        ).hexdigest()

    @cached_property
    def by_key(self) -> dict[str, Unit]:
        return {u.key: u for u in self.units}

    def shard(self, spec: ShardSpec) -> list[Unit]:
        """The units of shard ``spec``."""
        return spec.select(self.units)

    def shard_of(self, unit: Unit, count: int) -> int:
        """The shard (of ``count``) that owns ``unit``."""
        return self.units.index(unit) % count

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": UNIT_FORMAT,
            "grid": self.grid,
            "name": self.name,
            "digest": self.digest,
            "n_units": len(self.units),
            "skipped": list(self.skipped),
            "units": [u.to_dict() for u in self.units],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "plan") -> GridPlan:
        try:
            if d.get("format") != UNIT_FORMAT:
                raise ParameterError(
                    f"{where}: plan format {d.get('format')!r}, expected {UNIT_FORMAT}"
                )
            plan = cls(
                str(d["grid"]),
                str(d.get("name", "")),
                tuple(Unit.from_dict(u) for u in d["units"]),
                tuple(dict(s) for s in d.get("skipped", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(
                f"{where} is not a grid plan ({exc}); delete it and run again"
            ) from None
        if d.get("digest") not in (None, plan.digest):
            raise ParameterError(f"{where} was edited: its digest does not match its units")
        return plan

    def difference(self, other: GridPlan) -> str | None:
        """``None`` if both plans list the same units, else a sentence naming the first difference."""
        if self.digest == other.digest:
            return None
        mine = {u.name: u for u in self.units}
        theirs = {u.name: u for u in other.units}
        only_here = sorted(set(mine) - set(theirs))
        only_there = sorted(set(theirs) - set(mine))
        if only_here or only_there:
            return f"units only here: {only_here[:3]}; only in the saved plan: {only_there[:3]}"
        for name, unit in mine.items():
            if unit.key != theirs[name].key:
                return (
                    f"unit {name} explains clips {list(unit.clips)[:4]} here but "
                    f"{list(theirs[name].clips)[:4]} in the saved plan"
                )
        return f"left-out pairs differ: {list(self.skipped)} here, {list(other.skipped)} saved"


def canonical_units(
    grid: str,
    blocks: Iterable[tuple[str, str, str]],
    clip_batches: Mapping[str, Sequence[Sequence[str]]],
) -> tuple[Unit, ...]:
    """The units of ``blocks`` (model, condition, method), in canonical order.

    Parameters
    ----------
    grid : str
        The grid's fingerprint.
    blocks : iterable of (model, condition, method)
        The pairs the grid runs, under every condition.
    clip_batches : mapping of model to a sequence of clip-id batches
        The clips of each batch index, per model.
    """
    units = []
    for model, condition, method in sorted(set(blocks)):
        for what, name in (("model", model), ("condition", condition), ("method", method)):
            check_path_name(what, name)
        for b, clips in enumerate(clip_batches[model]):
            units.append(Unit(grid, model, condition, method, b, tuple(str(c) for c in clips)))
    return tuple(units)


def plan_grid(
    cfg: Any,
    fingerprint: str,
    *,
    clip_batches: Mapping[str, Sequence[Sequence[str]]],
    skipped: Mapping[tuple[str, str], str] | None = None,
) -> GridPlan:
    """The plan of grid ``cfg``: every (model, condition, method, batch) it computes.

    Parameters
    ----------
    cfg : ExperimentConfig
    fingerprint : str
        ``cfg.fingerprint(contents)``.
    clip_batches : mapping
        Per model, the clip ids of each batch (``ExperimentSession`` knows them).
    skipped : mapping of (model, method) to reason, optional
        Pairs left out (``ExperimentSession.skips()``).
    """
    skipped = dict(skipped or {})
    blocks = [
        (model, cond, method)
        for model in cfg.models
        for cond in cfg.conditions
        for method in cfg.methods
        if (model, method) not in skipped
    ]
    left_out = tuple(
        {"model": m, "method": n, "reason": r} for (m, n), r in sorted(skipped.items())
    )
    return GridPlan(
        fingerprint, str(cfg.name), canonical_units(fingerprint, blocks, clip_batches), left_out
    )
