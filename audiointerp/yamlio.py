"""Reading YAML safely: bounded alias expansion, no duplicate keys, errors naming the source.

PyYAML's ``safe_load`` executes nothing, but it still accepts two things a config must not
hold: aliases that expand exponentially (an "alias bomb" of a few hundred bytes loads in
milliseconds, then hangs whatever walks the result, such as a grid fingerprint) and
duplicated keys (the last one silently wins). :func:`safe_load_yaml` refuses both, and every
error names the file or ``--set`` key with a one-line reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from audiointerp.errors import ParameterError

#: Most values (scalars, list items, mapping entries) a YAML document may expand to.
MAX_YAML_NODES = 100_000


def _check_node_graph(node: yaml.Node, source: str) -> None:
    """Refuse documents whose aliases expand past :data:`MAX_YAML_NODES` or refer to
    themselves, and mappings with a duplicated key (PyYAML keeps the last one silently)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk; each distinct node is sized once (aliases share nodes, so
    # the walk is linear in the document while the size counts every expanded reference).
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        key = id(current)
        if done:
            on_path.discard(key)
            children = _children(current)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_YAML_NODES:
                raise ParameterError(
                    f"{source}: YAML aliases expand to more than {MAX_YAML_NODES} values (an alias "
                    "bomb?); write the values out or use fewer nested aliases"
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ParameterError(
                f"{source}: a YAML alias refers to the node that contains it (line "
                f"{current.start_mark.line + 1}); a config cannot be recursive, remove the alias"
            )
        on_path.add(key)
        if isinstance(current, yaml.MappingNode):
            _check_duplicate_keys(current, source)
        stack.append((current, True))
        stack.extend((c, False) for c in _children(current) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_duplicate_keys(node: yaml.MappingNode, source: str) -> None:
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in seen:
            raise ParameterError(
                f"{source}: key {key_node.value!r} is given twice (lines {seen[key_node.value]} "
                f"and {line}); keep one"
            )
        seen[key_node.value] = line


def safe_load_yaml(text: str, *, source: str = "YAML") -> Any:
    """``yaml.safe_load`` with bounded alias expansion and duplicate keys refused.

    Parameters
    ----------
    text : str
        YAML document.
    source : str
        Named in error messages (a file, ``--set key``).

    Raises
    ------
    ParameterError
        Invalid YAML, an alias bomb, a recursive alias or a duplicated key.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node_graph(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{source} is not valid YAML: {_yaml_problem(exc)}") from None
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what the parser found and where (line and column, 1-based)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.problem}{where}; check brackets and quotes (quote text that starts with [ {{ & * !)"
    return " ".join(str(exc).split())


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file and the cause."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ParameterError(f"config file {path} {what}; pass the path of a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise ParameterError(
            f"config file {path} cannot be read: permission denied; make it readable "
            f"(chmod u+r {path}) or pass a copy"
        ) from None
    except UnicodeDecodeError as exc:
        raise ParameterError(
            f"config file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ParameterError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    data = safe_load_yaml(text, source=f"config file {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"config file {path} must hold a mapping at top level")
    return data
