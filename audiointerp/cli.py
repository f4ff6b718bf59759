"""Command-line entry point: ``audiointerp <command> ...`` or ``python -m audiointerp``.

Each subcommand lives in its own module under :mod:`audiointerp.commands` exposing ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported lazily so that
``audiointerp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from audiointerp.errors import AudioInterpError, os_error_message

# name -> module under audiointerp.commands, in the order shown by --help.
COMMANDS: dict[str, str] = {
    "synth": "synth",
    "noises": "noises",
    "samples": "samples",
    "info": "info",
    "resynth": "resynth",
    "train": "train",
    "fit": "fit",
    "evaluate": "evaluate",
    "interpret": "interpret",
    "run": "run",
    "merge": "merge",
    "launch": "launch",
    "tables": "tables",
    "illustrate": "illustrate",
    "explore": "explore",
    "demo": "demo",
    "reproduce": "reproduce",
}

log = logging.getLogger("audiointerp")


def _available() -> dict[str, object]:
    mods = {}
    for name, module in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(f"audiointerp.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"audiointerp.commands.{module}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="audiointerp",
        description="Post-hoc, listenable interpretations of audio classifiers.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _available().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (0 ok, 1 problems found, 2 error)."""
    from audiointerp.runtime import tune_allocator

    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    tune_allocator()
    try:
        return int(args._run(args) or 0)
    except AudioInterpError as exc:
        print(f"audiointerp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # Environment faults (disk full, permissions, read-only or misplaced output): one
        # line with the file and the fix. The traceback stays available with -v.
        log.debug("%s failed", args.command, exc_info=True)
        place = getattr(args, "out", None) or getattr(args, "output", None)
        message = os_error_message(exc, fallback=str(place) if place else None)
        print(f"audiointerp {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"audiointerp {args.command}: interrupted", file=sys.stderr)
        return 130
