"""Dataclass configs read from and written to YAML: one typed loader for every command.

Each layer defines its own dataclass (``FrontendConfig``, ``TrainConfig``, ...); this module
converts between nested dicts and nested dataclasses, checking every value against the
field's type hint first (:mod:`audiointerp.typecheck`: types, choices, lists, optional
values) and refusing unknown keys with a message that lists the valid ones, so a typo or a
wrong type in a YAML file or a ``--set`` is an error naming the key, never a silent default
or a traceback. An empty list is an error (an empty list of folds, conditions or masks means
nothing) unless the field's default is empty or its metadata allows it (:data:`ALLOW_EMPTY`).
Range checks live in each dataclass's ``__post_init__``; their errors get the same source
prefix. YAML is read with the bounded loader of :mod:`audiointerp.yamlio`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from audiointerp.errors import ParameterError
from audiointerp.typecheck import check_keyword_options, convert_value
from audiointerp.yamlio import MAX_YAML_NODES, load_yaml, safe_load_yaml

__all__ = [
    "ALLOW_EMPTY",
    "MAX_YAML_NODES",
    "apply_overrides",
    "check_keyword_options",
    "convert_value",
    "from_dict",
    "load_config",
    "load_yaml",
    "parse_overrides",
    "safe_load_yaml",
    "save_yaml",
    "to_dict",
]

T = TypeVar("T")

# Field metadata key: an empty tuple/dict is a meaningful value for this field (it also is
# for fields whose default is empty).
ALLOW_EMPTY = "allow_empty"


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from a (nested) mapping, checking every value's type.

    Parameters
    ----------
    cls : type
        A dataclass type; fields that are dataclasses are built recursively.
    data : mapping or None
        Values by field name; missing fields take their defaults.
    where : str
        Name of the source and key path, used in error messages (``"cfg.yaml"``,
        ``"cfg.yaml: data"``).

    Returns
    -------
    cls
        The populated dataclass.

    Raises
    ------
    ParameterError
        Unknown key, wrong type, empty list, invalid choice, or a value the dataclass refuses;
        every message starts with ``where`` and the key.
    """
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ParameterError(f"{where}: expected a mapping for {cls.__name__}, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(map(str, set(data) - set(fields)))
    if unknown:
        raise ParameterError(
            f"{where}: unknown key(s) {unknown} for {cls.__name__}; valid keys: {sorted(fields)}"
        )
    kwargs = {}
    for key, value in data.items():
        here = _join(where, key)
        converted = convert_value(hints[key], value, here)
        if (
            isinstance(converted, (tuple, list, dict))
            and not converted
            and not _empty_allowed(fields[key])
        ):
            default = " or null for the default" if _optional(hints[key]) else ""
            raise ParameterError(f"{here}: is empty; give at least one value{default}")
        kwargs[key] = converted
    try:
        return cls(**kwargs)
    except ParameterError as exc:
        prefix = where.split(": ", 1)[0]
        text = str(exc)
        raise ParameterError(text if text.startswith(prefix) else f"{where}: {text}") from None
    except TypeError as exc:  # missing required fields
        raise ParameterError(f"{where}: {exc}") from exc


def _empty_allowed(f: dataclasses.Field) -> bool:
    """An empty list/mapping is meaningful where the field says so (:data:`ALLOW_EMPTY`) or
    where its own default is empty (``noise_files: {}``)."""
    if f.metadata.get(ALLOW_EMPTY, False):
        return True
    if f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = f.default
    return isinstance(default, (tuple, list, dict)) and not default


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(hint)
    )


def to_dict(obj: Any) -> dict[str, Any]:
    """Return a plain, YAML-safe dict of a (nested) dataclass."""
    return _plain(dataclasses.asdict(obj))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse ``--set`` items ``["a.b=1", "conditions=[clean]"]`` into ``{"a.b": 1, ...}``.

    Parameters
    ----------
    items : list of str or None
        ``key=value`` strings; keys are dotted field paths, values are YAML (read with the
        bounded loader of :func:`safe_load_yaml`).

    Returns
    -------
    dict
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ParameterError(f"--set {item!r}: expected key=value, e.g. --set data.n_clips=8")
        out[key] = safe_load_yaml(value, source=f"--set {key}: value {value!r}")
    return out


def apply_overrides(
    data: dict[str, Any], overrides: Mapping[str, Any] | None, *, where: str = "config"
) -> dict[str, Any]:
    """Set dotted-key ``overrides`` (``{"data.n_clips": 4}``) in the nested ``data`` in place.

    An empty section (``data:`` with nothing under it) becomes a mapping; a key that walks
    through a non-mapping value is an error naming it.
    """
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = str(dotted).split(".")
        for part in parents:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ParameterError(
                    f"--set {dotted}: {part!r} is {node!r} in {where}, not a mapping; "
                    f"set {part} as a whole or fix {where}"
                )
        node[leaf] = value
    return data


def load_config(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
    """Load dataclass ``cls`` from a YAML file, applying dotted-key ``overrides``.

    Parameters
    ----------
    cls : type
        Target dataclass.
    path : str or Path
        YAML file.
    overrides : dict, optional
        ``{"train.epochs": 1, ...}``; applied before validation, so a bad key is reported.

    Returns
    -------
    cls
    """
    data = apply_overrides(load_yaml(path), overrides, where=str(path))
    where = f"{path} + --set" if overrides else str(path)
    return from_dict(cls, data, where=where)


def save_yaml(obj: Any, path: str | Path) -> None:
    """Write a dataclass (or dict) as YAML (atomically)."""
    from audiointerp.files import atomic_write_text

    data = to_dict(obj) if dataclasses.is_dataclass(obj) else _plain(obj)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
