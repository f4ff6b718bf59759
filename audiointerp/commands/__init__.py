"""One module per CLI subcommand: ``HELP``, ``add_arguments(parser)``, ``run(args) -> int``."""

from __future__ import annotations

import argparse


def add_set_option(parser: argparse.ArgumentParser, example: str) -> None:
    """Add the repeatable ``--set KEY=VALUE`` option (dotted key, YAML value) to ``parser``.

    Parsed with :func:`audiointerp.config.parse_overrides`; ``example`` shows one use.
    """
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config field (dotted key, YAML value), e.g. --set {example}; repeatable",
    )
