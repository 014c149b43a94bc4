"""The ``hatbot`` command: train and serve models, play games, and call a server.

``train`` and ``serve`` need the server extra (``pip install 'hatbot[server]'``); the other
commands only need the client. Each command's options live beside the code they configure;
this module only gathers them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from hatbot.client import cli as client_cli
from hatbot.game import cli as game_cli
from hatbot.models import cli as models_cli
from hatbot.server import cli as server_cli


def _version() -> str:
    try:
        return version("hatbot")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``hatbot`` parser with every subcommand."""
    # Given before or after the subcommand; SUPPRESS keeps a subcommand from resetting it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug messages"
    )
    parser = argparse.ArgumentParser(
        prog="hatbot", description=__doc__.splitlines()[0], parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"hatbot {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    models_cli.register(commands, [common], precompute=server_cli.precompute)
    server_cli.register(commands, [common])
    client_cli.register(commands, [common])
    game_cli.register(commands)
    game_cli.register_report(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hatbot ARGS``; the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("gensim").setLevel(logging.WARNING)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
