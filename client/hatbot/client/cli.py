"""``hatbot explain``, ``guess``, ``info`` and ``health``: call a server from a terminal."""

from __future__ import annotations

import argparse
import os
import sys

from hatbot import arguments

FALLBACK_ADDR = "localhost:50051"
DEFAULT_ADDR = os.environ.get("HATBOT_ADDR") or FALLBACK_ADDR

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
            metavar="HOST:PORT",
            help="the server; $HATBOT_ADDR sets the default",
        )
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
        sub.set_defaults(func=_call)


def _call(args: argparse.Namespace) -> int:
    from hatbot.client import HatClient, HatError

    try:
        with HatClient(args.addr, timeout=args.timeout) as hat:
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
