"""The method registry: every interpretation method by name, in display order.

One line per method in :data:`_REGISTRY` (``name -> "module:Class"``, imported on first use so
that ``shap`` and scikit-image load only for the methods that need them), or
:func:`register_method` at run time. Tables, figures and the explorer order methods as listed
here; everything else about a method is read from its class (:class:`AttributionMethod`).

A config keys its methods by name, so one method with two option sets needs a second name: an
entry whose options carry ``method: <registered name>`` is an alias that runs that method under
the entry's own name (rows, seeds and tables use the alias), e.g.
``saliency_abs: {method: saliency, abs: true}``. :func:`resolve_method` reads such entries.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from audiointerp.config import check_keyword_options
from audiointerp.errors import AudioInterpError, ParameterError

if TYPE_CHECKING:  # the classes load with their modules: names and order need no torch
    from audiointerp.interpretation.base import AttributionMethod
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
    "random": "reference:RandomMap",
    "energy": "reference:EnergyMap",
    "oracle": "reference:OracleMap",
    "lmac": "audiointerp.interpretation.learned.lmac:Lmac",
    "lmac_ft": "audiointerp.interpretation.learned.lmac:LmacFt",
    "l2i": "audiointerp.interpretation.learned.l2i:L2i",
    "piq": "audiointerp.interpretation.learned.piq:Piq",
    "nmf": "audiointerp.interpretation.learned.nmf:NmfBaseline",
}

#: The option of a config entry that names the registered method it runs (an alias:
#: ``saliency_abs: {method: saliency, abs: true}`` runs Saliency under its own name).
METHOD_KEY = "method"


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
    options = check_keyword_options(cls.__init__, options, where=f"method {name}")
    try:
        return cls(**options)
    except AudioInterpError:
        raise
    except (TypeError, ValueError) as exc:  # unknown keyword or a value the class refuses
        raise ParameterError(f"bad options for method {name!r}: {exc}") from exc


def resolve_method(
    name: str, options: Mapping[str, Any] | None = None
) -> tuple[type[AttributionMethod], dict[str, Any]]:
    """The class a config entry runs and its options without the ``method`` key.

    Parameters
    ----------
    name : str
        The entry's name: a registered method, or an alias whose ``options`` name one.
    options : mapping, optional
        The entry's options; ``method: <registered name>`` makes ``name`` an alias.

    Returns
    -------
    cls : type of AttributionMethod
    options : dict
        The options the class is built from.
    """
    opts = dict(options or {})
    target = opts.pop(METHOD_KEY, None)
    if target is None:
        return method_class(name), opts
    if not isinstance(target, str):
        raise ParameterError(
            f"methods.{name}.{METHOD_KEY} must name a registered method, got {target!r}"
        )
    if name in _REGISTRY and target != name:
        raise ParameterError(
            f"methods.{name}: {name!r} is a registered method and cannot run {target!r}; give "
            f"the alias another name (e.g. {target}_{name})"
        )
    try:
        return method_class(target), opts
    except ParameterError as exc:
        raise ParameterError(f"methods.{name}.{METHOD_KEY}: {exc}") from exc


def build_method(
    name: str, options: Mapping[str, Any] | None = None, context: MethodContext | None = None
) -> AttributionMethod:
    """Build ``name`` from config options, with what it needs from ``context``.

    This is how every entry point (grid, ``interpret``, illustration, explorer) builds a
    method, so the same options and context give the same method everywhere.

    Parameters
    ----------
    name : str
        Registered method name, or an alias whose options name the method
        (:func:`resolve_method`).
    options : mapping, optional
        The method's options as written in a config.
    context : MethodContext, optional
        The model, its frontend and training data; methods that need something the context
        lacks fall back as their class documents and record it in ``context.notes``.

    Returns
    -------
    AttributionMethod
    """
    cls, opts = resolve_method(name, options)
    if context is not None:
        reason = cls.unsupported(context.model)
        if reason:
            raise ParameterError(reason)
    options, deferred = _typed_options(cls, opts, name)
    try:
        return cls.from_config(options, context)
    except ParameterError as exc:  # a value the method refuses: say which method
        if str(exc).startswith("method "):
            raise
        raise ParameterError(f"method {name}: {exc}") from None
    except AudioInterpError:
        raise
    except (TypeError, ValueError) as exc:  # unknown keyword or a value the class refuses
        if deferred is not None:
            raise deferred from None
        raise ParameterError(f"bad options for method {name!r}: {exc}") from exc


def _typed_options(
    cls: type[AttributionMethod], options: dict[str, Any], name: str
) -> tuple[dict[str, Any], ParameterError | None]:
    """Options checked against the type hints of ``cls.__init__``.

    A class with its own ``from_config`` may resolve named values itself (the slice method's
    ``fill: train_mean``), so a string that does not fit the hint is passed on; if the class
    then refuses it, the type error is the message (returned as ``deferred``).
    """
    from audiointerp.interpretation.base import AttributionMethod

    own_from_config = cls.from_config.__func__ is not AttributionMethod.from_config.__func__
    out, deferred = {}, None
    for key, value in options.items():
        try:
            out.update(check_keyword_options(cls.__init__, {key: value}, where=f"method {name}"))
        except ParameterError as exc:
            if not (own_from_config and isinstance(value, str)):
                raise
            out[key], deferred = value, deferred or exc
    return out, deferred


def __getattr__(name: str) -> Any:
    if name == "METHOD_NAMES":  # current even when methods are registered at run time
        return method_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
