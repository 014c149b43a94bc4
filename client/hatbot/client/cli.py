"""``hatbot explain``, ``guess``, ``info`` and ``health``: call a server from a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from typing import TYPE_CHECKING

from hatbot import arguments

if TYPE_CHECKING:
    from hatbot.tls import TlsConfig

FALLBACK_ADDR = "localhost:50051"
DEFAULT_ADDR = os.environ.get("HATBOT_ADDR") or FALLBACK_ADDR
#: The TLS options and the environment variables that give their defaults.
TLS_OPTIONS = {
    "ca": ("HATBOT_TLS_CA", "the PEM certificates to trust (TLS; default: the system's roots)"),
    "cert": ("HATBOT_TLS_CERT", "this client's PEM certificate, for mutual TLS (with --tls-key)"),
    "key": ("HATBOT_TLS_KEY", "the PEM private key of --tls-cert"),
    "server-name": (
        "HATBOT_TLS_SERVER_NAME",
        "the name the server's certificate must carry (default: the host of --addr)",
    ),
}

_COMMANDS = {
    "explain": ("ask a server for hints, strongest first", "hatbot explain river -n 5"),
    "guess": (
        "ask a server for guesses at the word behind the hints so far, best first",
        "hatbot guess lake flood -n 8 --criteria soft",
    ),
    "info": ("describe a server's model", "hatbot info --addr localhost:50051"),
    "health": (
        "check a server's health; exit 0 only when SERVING",
        "hatbot health --service hatbot.v1.HatService",
    ),
}


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add the client commands to ``commands``."""
    for name, (help_text, example) in _COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=arguments.examples(example),
            parents=parents,
        )
        sub.add_argument(
            "--addr",
            default=DEFAULT_ADDR,
            metavar="ADDR",
            help="the server, HOST:PORT; or several replicas, IP:PORT,IP:PORT,... or "
            "dns:///HOST:PORT (round robin over the SERVING ones); $HATBOT_ADDR sets the default",
        )
        add_tls_arguments(sub)
        sub.add_argument(
            "--timeout",
            type=arguments.positive_seconds,
            default=1.0,
            metavar="SECONDS",
            help="deadline of the call",
        )
        if name in ("explain", "guess"):
            sub.add_argument(
                "-n", type=arguments.positive_int, default=5, metavar="N", help="how many words"
            )
        if name == "explain":
            sub.add_argument("word", help="the secret word")
        elif name == "guess":
            sub.add_argument("words", nargs="+", help="the hints revealed so far, in order")
            sub.add_argument(
                "--criteria",
                choices=("soft", "hard"),
                help="the host's criteria, when known (default: unsaid; the server decides)",
            )
        elif name == "health":
            sub.add_argument(
                "--service", default="", help='service name (default: "", the whole server)'
            )
        sub.set_defaults(func=partial(_call, sub))


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--tls`` and the ``--tls-*`` options of a command that calls a server."""
    parser.add_argument(
        "--tls",
        action="store_true",
        help="call over TLS; implied by any --tls-* option",
    )
    for name, (variable, help_text) in TLS_OPTIONS.items():
        parser.add_argument(
            f"--tls-{name}",
            default=os.environ.get(variable) or None,
            metavar="NAME" if name == "server-name" else "FILE",
            help=f"{help_text}; ${variable} sets the default",
        )


def tls_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> TlsConfig | None:
    """The TLS of ``args`` (see :func:`add_tls_arguments`), its files checked; None for
    plaintext. A file that cannot be used is ``parser.error`` naming its option."""
    from hatbot.tls import PemError, TlsConfig

    files = (args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    if not args.tls and all(value is None for value in files):
        return None
    tls = TlsConfig(*files)
    try:
        tls.load(prefix="--tls-")
    except PemError as error:
        parser.error(f"argument {error.field}: {error.problem}")
    return tls


def _call(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from hatbot.client import HatClient, HatError

    tls = tls_config(args, parser)
    try:
        with HatClient(args.addr, timeout=args.timeout, tls=tls) as hat:
            if args.command == "explain":
                print(" ".join(hat.explain(args.word, args.n)))
            elif args.command == "guess":
                print(" ".join(hat.guess(args.words, args.n, criteria=args.criteria)))
            elif args.command == "info":
                for key, value in vars(hat.model_info()).items():
                    print(f"{key}: {value}")
            else:
                status = hat.health(args.service)
                print(status)
                return 0 if status == "SERVING" else 1
    except HatError as error:
        print(f"hatbot {args.command}: {error}", file=sys.stderr)
        return 1
    return 0
