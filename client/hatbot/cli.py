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
from typing import cast

from hatbot import arguments
from hatbot.client import cli as client_cli
from hatbot.game import cli as game_cli
from hatbot.models import cli as models_cli
from hatbot.server import cli as server_cli


def _version() -> str:
    try:
        return version("hatbot")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _environment() -> str:
    from hatbot.models.store import default_model_dir

    return f"""environment:
  HATBOT_ADDR       the server of explain, guess, info and health
                    (default: {client_cli.FALLBACK_ADDR})
  HATBOT_TLS_CA, HATBOT_TLS_CERT, HATBOT_TLS_KEY, HATBOT_TLS_SERVER_NAME
                    their --tls-ca, --tls-cert, --tls-key and --tls-server-name
  HATBOT_MODEL_DIR  the default model, trained and served when train has no --out
                    and serve no --model (default: $XDG_DATA_HOME/hatbot/models/default,
                    XDG_DATA_HOME defaulting to ~/.local/share); here:
                    {default_model_dir()}

{arguments.examples("hatbot serve", "hatbot explain river")}"""


def build_parser() -> argparse.ArgumentParser:
    """The ``hatbot`` parser with every subcommand."""
    # Given before or after the subcommand; SUPPRESS keeps a subcommand from resetting it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug messages"
    )
    parser = arguments.Parser(
        prog="hatbot",
        description=__doc__.splitlines()[0],
        epilog=_environment(),
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"hatbot {_version()}")
    # Every subcommand's parser is an arguments.Parser (one-line errors, defaults in help);
    # the modules that register them only need an ArgumentParser.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, parser_class=arguments.Parser),
    )
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
