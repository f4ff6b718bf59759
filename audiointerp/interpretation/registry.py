"""The method registry: every interpretation method by name, in display order.

One line per method in :data:`_REGISTRY` (``name -> "module:Class"``, imported on first use so
that ``shap`` and scikit-image load only for the methods that need them), or
:func:`register_method` at run time. Tables, figures and the explorer order methods as listed
here; everything else about a method is read from its class (:class:`AttributionMethod`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from audiointerp.errors import ParameterError
from audiointerp.interpretation.base import AttributionMethod

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext

_REGISTRY: dict[str, str | type[AttributionMethod]] = {
    "saliency": "saliency:Saliency",
    "gradcam": "gradcam:GradCam",
    "lime": "lime:Lime",
    "shap": "shap_method:Shap",
    "slice": "slice:Slice",
    "ig": "integrated_gradients:IntegratedGradients",
    "amt": "attention:Amt",
    "rollout": "attention:Rollout",
    "grad_attention": "attention:GradAttention",
}


def register_method(name: str, cls: str | type[AttributionMethod]) -> None:
    """Add (or replace) a method under ``name``: a class or ``"module:Class"``.

    A module path without a package is looked up under ``audiointerp.interpretation``.
    """
    _REGISTRY[str(name)] = cls


def method_names() -> tuple[str, ...]:
    """Every registered method, in display order."""
    return tuple(_REGISTRY)


def method_class(name: str) -> type[AttributionMethod]:
    """The class registered as ``name``."""
    if name not in _REGISTRY:
        valid = ", ".join(repr(n) for n in _REGISTRY)
        raise ParameterError(f"method={name!r} is not valid; choose one of: {valid}")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module, cls_name = entry.split(":")
        if "." not in module:
            module = f"audiointerp.interpretation.{module}"
        entry = getattr(importlib.import_module(module), cls_name)
        _REGISTRY[name] = entry
    return entry


def get_method(name: str, **options: Any) -> AttributionMethod:
    """Build the method registered as ``name`` directly from its keyword options.

    Parameters
    ----------
    name : str
        A name of :func:`method_names` (``"saliency"``, ``"gradcam"``, ``"lime"``, ...).
    **options
        Keyword options of the method's class (e.g. ``batch_size``, ``n_samples``).

    Returns
    -------
    AttributionMethod
    """
    cls = method_class(name)
    try:
        return cls(**options)
    except TypeError as exc:  # unknown keyword: say which method and what it accepts
        raise ParameterError(f"bad options for method {name!r}: {exc}") from exc


def build_method(
    name: str, options: Mapping[str, Any] | None = None, context: MethodContext | None = None
) -> AttributionMethod:
    """Build ``name`` from config options, with what it needs from ``context``.

    This is how every entry point (grid, ``interpret``, illustration, explorer) builds a
    method, so the same options and context give the same method everywhere.

    Parameters
    ----------
    name : str
        Registered method name.
    options : mapping, optional
        The method's options as written in a config.
    context : MethodContext, optional
        The model, its frontend and training data; methods that need something the context
        lacks fall back as their class documents and record it in ``context.notes``.

    Returns
    -------
    AttributionMethod
    """
    cls = method_class(name)
    if context is not None:
        reason = cls.unsupported(context.model)
        if reason:
            raise ParameterError(reason)
    try:
        return cls.from_config(dict(options or {}), context)
    except TypeError as exc:
        raise ParameterError(f"bad options for method {name!r}: {exc}") from exc


def __getattr__(name: str) -> Any:
    if name == "METHOD_NAMES":  # current even when methods are registered at run time
        return method_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
