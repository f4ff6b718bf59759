"""Dataclass configs read from and written to YAML.

Each layer defines its own dataclass (``FrontendConfig``, ``TrainConfig``, ...); this module
only converts between nested dicts and nested dataclasses, rejecting unknown keys with a
message that lists the valid ones, so a typo in a YAML file is an error, not a silent default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from audiointerp.errors import ParameterError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from a (nested) dict.

    Parameters
    ----------
    cls : type
        A dataclass type; fields that are dataclasses are built recursively.
    data : dict or None
        Values by field name; missing fields take their defaults.
    where : str
        Name of the source, used in error messages (a file name or a dotted key).

    Returns
    -------
    cls
        The populated dataclass.
    """
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ParameterError(f"{where}: expected a mapping for {cls.__name__}, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParameterError(
            f"{where}: unknown key(s) {unknown} for {cls.__name__}; valid keys: {sorted(fields)}"
        )
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _convert(hints[key], value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # missing required fields
        raise ParameterError(f"{where}: {exc}") from exc


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        # A base class may pick the concrete dataclass from the data (ModelConfig by `arch`).
        hook = getattr(hint, "from_mapping", None)
        if hook is not None:
            return hook(value, where=where)
        return from_dict(hint, value, where=where)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None) and value is None:
                return None
        for arg in args:
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return from_dict(arg, value, where=where)
        return value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value


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
        ``key=value`` strings; keys are dotted field paths, values are YAML.

    Returns
    -------
    dict
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set {item!r}: expected key=value, e.g. --set data.n_clips=8")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ParameterError(f"--set {item!r}: value is not valid YAML: {exc}") from exc
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"config file {path} does not exist; pass the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParameterError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"config file {path} must hold a mapping at top level")
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
    data = load_yaml(path)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParameterError(f"override {dotted!r}: {part!r} is not a mapping in {path}")
        node[leaf] = value
    return from_dict(cls, data, where=str(path))


def save_yaml(obj: Any, path: str | Path) -> None:
    """Write a dataclass (or dict) as YAML."""
    data = to_dict(obj) if dataclasses.is_dataclass(obj) else _plain(obj)
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
