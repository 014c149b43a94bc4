"""``hatbot explain``, ``guess``, ``info`` and ``health``: call a server from a terminal."""

from __future__ import annotations

import argparse
import os
import sys

from hatbot import arguments

DEFAULT_ADDR = os.environ.get("HATBOT_ADDR", "localhost:50051")


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add the client commands to ``commands``."""
    for name, help_text in (
        ("explain", "ask a server for hints"),
        ("guess", "ask a server for guesses"),
        ("info", "describe a server's model"),
        ("health", "check a server's health; exit 0 only when SERVING"),
    ):
        sub = commands.add_parser(name, help=help_text, parents=parents)
        sub.add_argument(
            "--addr",
            default=DEFAULT_ADDR,
            help=f"server, host:port (default: $HATBOT_ADDR or {DEFAULT_ADDR})",
        )
        sub.add_argument(
            "--timeout", type=arguments.positive_seconds, default=1.0, help="deadline in seconds"
        )
        if name in ("explain", "guess"):
            sub.add_argument("-n", type=arguments.positive_int, default=5, help="how many words")
        if name == "explain":
            sub.add_argument("word")
        elif name == "guess":
            sub.add_argument("words", nargs="+")
        elif name == "health":
            sub.add_argument("--service", default="", help='service name ("" = whole server)')
        sub.set_defaults(func=_call)


def _call(args: argparse.Namespace) -> int:
    from hatbot.client import HatClient, HatError

    with HatClient(args.addr, timeout=args.timeout) as hat:
        try:
            if args.command == "explain":
                print(" ".join(hat.explain(args.word, args.n)))
            elif args.command == "guess":
                print(" ".join(hat.guess(args.words, args.n)))
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
