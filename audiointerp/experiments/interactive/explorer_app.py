"""The explorer as an app: what notebook 07 and ``audiointerp explore`` build.

``audiointerp explore`` serves notebook 07 with Voila, which cannot take papermill parameters:
the command passes its arguments as a JSON object in the environment variable :data:`APP_ENV`,
and the notebook's second cell reads them with :func:`app_parameters` in place of its
parameters cell. :func:`build_explorer` then builds the :class:`~.explorer.Explorer` from an
experiment config, or from a checkpoint and any data folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from audiointerp.errors import ParameterError
from audiointerp.experiments.interactive.explorer import Explorer
from audiointerp.experiments.interactive.explorer_session import ExplorerSession

__all__ = ["APP_ENV", "app_parameters", "build_explorer"]

#: Environment variable through which ``audiointerp explore`` passes notebook 07's parameters.
APP_ENV = "AUDIOINTERP_EXPLORE"


def app_parameters(**parameters: Any) -> dict[str, Any]:
    """Notebook 07's parameters, replaced by those ``audiointerp explore`` passed (if any).

    ``audiointerp explore`` writes its arguments as a JSON object into :data:`APP_ENV`; its
    keys must be parameters of the notebook.
    """
    raw = os.environ.get(APP_ENV, "")
    if not raw:
        return dict(parameters)
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"${APP_ENV} is not a JSON object ({exc}); unset it") from None
    unknown = sorted(set(given) - set(parameters))
    if not isinstance(given, dict) or unknown:
        raise ParameterError(
            f"${APP_ENV} names parameters the notebook does not have: {unknown}; "
            f"valid: {sorted(parameters)}"
        )
    return {**parameters, **given}


def build_explorer(
    *,
    config: str | Path | None = None,
    model: str = "",
    weights: str | Path | None = None,
    data: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    condition: str | None = None,
    resolve: Callable[[Any], Any] | None = None,
    device: str | None = None,
) -> Explorer:
    """The explorer of notebook 07 and ``audiointerp explore``.

    With ``config`` (an experiment YAML): its clips, methods, options and condition, with
    ``weights`` replacing model ``model``'s checkpoint and ``data`` its data root. Without:
    ``weights`` explained on any clip of the data folder ``data``.

    Parameters
    ----------
    config, weights, data : path, optional
        ``""`` or ``None`` means "not given".
    model : str
        Which of the config's models (default its first).
    overrides : mapping, optional
        Other config fields (dotted keys).
    condition : str, optional
        The config's condition the clips are heard under (default its first).
    resolve : callable, optional
        Applied to every path, those inside the config included (the notebook passes
        ``audiointerp.paths.repo_path``).
    device : str, optional
    """
    from audiointerp.runtime import tune_allocator

    tune_allocator()  # the app's kernel is a process of its own (see audiointerp.runtime)
    resolve = resolve or (lambda p: p)
    if config:
        from audiointerp.experiments.grid.config import load_experiment

        over = dict(overrides or {})
        cfg = load_experiment(resolve(config), over)
        name = model or next(iter(cfg.models))
        if weights:
            over["models"] = {name: str(weights)}
        if data:
            over["data.root"] = str(data)
        cfg = load_experiment(resolve(config), over).resolve_paths(resolve)
        session = ExplorerSession.from_experiment(
            cfg, name, condition=condition or None, device=device
        )
        return Explorer(session=session)
    if not weights or not data:
        raise ParameterError(
            "the explorer needs an experiment config, or a checkpoint (weights) and a data "
            "folder (data): e.g. audiointerp explore --weights weights/default_mel.pt --data "
            "data/synth"
        )
    method_options = _method_overrides(overrides or {})
    return Explorer(resolve(weights), resolve(data), method_options=method_options, device=device)


def _method_overrides(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Without a config only method options apply: ``{"methods": {...}}`` or
    ``{"methods.lime.n_samples": 100}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        parts = key.split(".")
        if key == "methods" and isinstance(value, Mapping):
            for method, options in value.items():
                out.setdefault(method, {}).update(options or {})
        elif len(parts) == 3 and parts[0] == "methods":
            out.setdefault(parts[1], {})[parts[2]] = value
        else:
            raise ParameterError(
                f"overrides key {key!r}: without an experiment config only method options "
                "apply, e.g. {'methods.lime.n_samples': 100}"
            )
    return out or None
