"""Values checked against type hints: the typed core of the config loader.

:func:`convert_value` checks one value against a field's hint and returns it in that type:
``int``/``float``/``bool``/``str`` are distinct (``2.5`` is not an ``int``, ``1`` not a
``bool``, ``5`` not a ``str``; a ``float`` also takes ``1e-3``, which PyYAML reads as a
string), ``Literal[...]`` lists its values, ``X | None`` takes ``null``, ``tuple[X, ...]``
takes a list or one scalar (never a string split into characters), a mapping of options takes
a name or a list of names, and nested dataclasses take a mapping
(:func:`audiointerp.config.from_dict`). Every message names where the value came from.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from collections.abc import Mapping
from typing import Any

from audiointerp.errors import ParameterError


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _bad(where: str, expected: str, value: Any) -> ParameterError:
    if value is None:
        return ParameterError(f"{where}: has no value (null); expected {expected}")
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ParameterError(f"{where}: expected {expected}, got {shown} ({_kind(value)})")


def _describe(hint: Any) -> str:
    """Human name of a type hint for messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is Any:
        return "any value"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin in (tuple, list):
        return f"a list of {_describe(args[0]) if args else 'values'}"
    if origin in (dict, Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} fields"
    return getattr(hint, "__name__", str(hint))


def convert_value(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``hint`` and return it in that type.

    Parameters
    ----------
    hint : type hint
        ``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``X | None``,
        ``tuple[X, ...]``, ``dict[K, V]``, a dataclass, or ``Any``.
    value : object
        A value as read from YAML (or given in Python).
    where : str
        ``"<source>: <dotted key>"``, named in errors.

    Raises
    ------
    ParameterError
        The value does not fit; the message names ``where``, the value and what is expected.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise _bad(where, _describe(hint), value)
        # A base class may pick the concrete dataclass from the data (ModelConfig by `arch`).
        hook = getattr(hint, "from_mapping", None)
        if hook is not None:
            return hook(dict(value), where=where)
        from audiointerp.config import from_dict

        return from_dict(hint, dict(value), where=where)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise _bad(where, _describe(hint), value)
        options = [a for a in args if a is not type(None)]
        errors = []
        for arg in options:
            try:
                return convert_value(arg, value, where)
            except ParameterError as exc:
                errors.append(exc)
        if len(options) == 1 and not _is_plain(options[0]):
            raise errors[0]  # a nested config's own, more precise message
        raise _bad(where, _describe(hint), value)
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        valid = ", ".join(repr(a) for a in args)
        raise ParameterError(f"{where}: {value!r} is not valid; choose one of: {valid}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _bad(where, "true or false", value)
    if hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        raise _bad(where, "an integer", value)
    if hint is float:
        return _float(value, where)
    if hint is str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if value is None:
            raise _bad(where, "a string", value)
        if not isinstance(value, str):
            raise ParameterError(
                f"{where}: expected a string, got {value!r} ({_kind(value)}); "
                "quote it in YAML if it is meant as text"
            )
        if not value.strip():
            raise ParameterError(f"{where}: is an empty string; give a value")
        return value
    if origin in (tuple, list) or hint in (tuple, list):
        return _sequence(origin or hint, args, value, where)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return _mapping(args, value, where)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise _bad(where, _describe(hint), value)
    return value


def _float(value: Any, where: str) -> float | int:
    if isinstance(value, bool):
        raise _bad(where, "a number", value)
    if isinstance(value, numbers.Real):
        number = value
    elif isinstance(value, str):
        # PyYAML (YAML 1.1) reads `1e-3` as a string; accept any plain decimal literal.
        try:
            number = float(value)
        except ValueError:
            raise _bad(where, "a number", value) from None
    else:
        raise _bad(where, "a number", value)
    if not math.isfinite(number):
        raise ParameterError(f"{where}: expected a finite number, got {value!r}")
    # Ints stay ints so configs written with `5` keep their fingerprints.
    return int(number) if isinstance(number, numbers.Integral) else float(number)


def _sequence(origin: Any, args: tuple, value: Any, where: str) -> tuple | list:
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, (str, numbers.Number)):
        items = [value]  # one value where a list is expected: a one-element list, not characters
    else:
        raise _bad(where, "a list", value)
    if not args or (len(args) == 2 and args[1] is Ellipsis) or origin is list:
        elem = [args[0] if args else Any] * len(items)
    elif len(args) == len(items):
        elem = list(args)  # fixed-length tuple[X, Y]
    else:
        raise ParameterError(f"{where}: expected {len(args)} values, got {len(items)}: {value!r}")
    out = [
        convert_value(h, v, f"{where}[{i}]")
        for i, (h, v) in enumerate(zip(elem, items, strict=True))
    ]
    return tuple(out) if origin is tuple else out


def _mapping(args: tuple, value: Any, where: str) -> dict:
    key_hint, val_hint = args if args else (Any, Any)
    if _is_mapping_hint(val_hint):
        # `methods: saliency` or `methods: [saliency, gradcam]`: names with default options.
        if isinstance(value, str):
            value = {value: {}}
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            value = {v: {} for v in value}
    if not isinstance(value, Mapping):
        raise _bad(where, "a mapping", value)
    out = {}
    for k, v in value.items():
        if key_hint is str and isinstance(k, numbers.Integral) and not isinstance(k, bool):
            k = str(k)  # YAML reads `1:` as an int key
        k = convert_value(key_hint, k, f"{where} key")
        if v is None and _is_mapping_hint(val_hint):
            v = {}  # `saliency:` with nothing after it: default options
        out[k] = convert_value(val_hint, v, f"{where}.{k}")
    return out


def _is_plain(hint: Any) -> bool:
    return hint in (bool, int, float, str) or typing.get_origin(hint) is typing.Literal


def _is_mapping_hint(hint: Any) -> bool:
    return typing.get_origin(hint) in (dict, Mapping) or hint in (dict, Mapping)


def check_keyword_options(func: Any, options: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Check ``options`` against the type hints of ``func``'s parameters (a class's
    ``__init__``, for method options); options it does not annotate pass through unchanged.

    Returns
    -------
    dict
        The options, converted as :func:`convert_value` does.
    """
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError):  # annotations that cannot be resolved: nothing to check
        hints = {}
    return {
        k: convert_value(hints[k], v, f"{where}.{k}") if k in hints and k != "return" else v
        for k, v in options.items()
    }
