"""``hatbot play``: host a game between players and print each player's results;
``hatbot report``: the same results, and the HTML page, from a game's log."""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from hatbot import arguments
from hatbot.client.cli import add_tls_arguments, tls_config
from hatbot.game.engine import GameResult, play_game
from hatbot.game.load import GameLogError, load_game
from hatbot.game.log import GameLog
from hatbot.game.players import Player, make_player
from hatbot.game.records import GameConfig, TurnRecord
from hatbot.game.report import INSTALL, ReportExtraMissingError, require_report_extra, write_report
from hatbot.game.summary import format_failures, format_table, summarize
from hatbot.progress import Progress

_logger = logging.getLogger("hatbot.game")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``play`` command to ``subparsers``."""
    parser = subparsers.add_parser(
        "play",
        help="host a game of the Hat between players",
        description=(
            "Host a game of the Hat: in each round every player explains one word drawn from "
            "the list and all others guess it. Prints each player's results."
        ),
    )
    parser.add_argument(
        "--player",
        dest="players",
        action="append",
        required=True,
        type=_player,
        metavar="NAME=TARGET",
        help=(
            "a player, at least two: TARGET is a gRPC address (host:port; several, "
            "comma-separated, or dns:///host:port for replicas), the URL of a player "
            "speaking the original REST protocol (http://... or https://...) or "
            "py:module:attr for a Python object (a class there is instantiated); the --tls "
            "options apply to every gRPC and https:// player"
        ),
    )
    parser.add_argument(
        "--words", required=True, type=Path, metavar="FILE", help="the word list, one a line"
    )
    parser.add_argument("--criteria", choices=("soft", "hard"), default="soft")
    parser.add_argument(
        "--n-explain",
        type=arguments.positive_int,
        default=5,
        metavar="N",
        help="hints shown per word (default: 5)",
    )
    parser.add_argument(
        "--n-guess",
        type=arguments.positive_int,
        default=5,
        metavar="N",
        help="guesses judged per call (default: 5)",
    )
    parser.add_argument(
        "--rounds",
        type=arguments.positive_int,
        default=1,
        metavar="N",
        help="rounds; each player explains one word a round (default: 1)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of the word draw (default: a random one, printed)",
    )
    parser.add_argument(
        "--log",
        type=Path,
        metavar="FILE",
        help="the JSON-lines game log (default: hatbot-game-SEED.jsonl)",
    )
    parser.add_argument(
        "--timeout",
        type=arguments.positive_seconds,
        default=1.0,
        metavar="S",
        help="seconds each call to a player may take (default: 1)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE.html",
        help=f"also write the game's HTML report here (needs {INSTALL})",
    )
    add_tls_arguments(parser)
    parser.set_defaults(func=lambda args: _play(parser, args))


def register_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` command to ``subparsers``."""
    parser = subparsers.add_parser(
        "report",
        help="summarise a game from its log, optionally as an HTML page",
        description=(
            "Rebuild a game's results from the JSON-lines log that hatbot play wrote, print "
            "them, and with --html write the game's report page. A log cut off mid-game gives "
            "the turns it holds."
        ),
    )
    parser.add_argument("log", type=Path, metavar="LOG.jsonl", help="the game log")
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE.html",
        help=f"write the report page here: self-contained, no network (needs {INSTALL})",
    )
    parser.set_defaults(func=lambda args: _report(parser, args))


def _report(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.html is not None:
        _check_report(parser, args.html)
    try:
        game = load_game(args.log)
    except GameLogError as exc:
        parser.error(str(exc))
    for warning in game.warnings:
        print(f"hatbot report: warning: {warning}", file=sys.stderr)
    _print_results(game.result, args.log)
    if args.html is not None:
        _write_report(parser, args.html, game.result, args.log, game.warnings)
    return 0


def _check_report(parser: argparse.ArgumentParser, path: Path) -> None:
    """Refuse a report that cannot be written, before any long work."""
    try:
        require_report_extra()
    except ReportExtraMissingError as exc:
        print(f"hatbot {parser.prog.split()[-1]}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if not path.parent.is_dir():
        parser.error(f"cannot write the report: no directory {path.parent}")


def _write_report(
    parser: argparse.ArgumentParser,
    path: Path,
    result: GameResult,
    log: Path,
    warnings: Sequence[str] = (),
) -> None:
    try:
        write_report(path, result, log=log, warnings=warnings)
    except OSError as exc:
        parser.error(f"cannot write the report: {exc}")
    print(f"report {path}")


def _print_results(result: GameResult, log: Path) -> None:
    config = result.config
    print(f"seed {config.seed}, {config.criteria} criteria, log {log}")
    if not result.complete:
        print(f"incomplete: {len(result.turns)} of {result.planned_turns} turns played")
    summaries = summarize(result)
    print(format_table(summaries))
    for line in format_failures(summaries):
        print(line)


def _play(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    targets: dict[str, str] = {}
    for name, target in args.players:
        if name in targets:
            parser.error(f"two players are named {name!r}")
        targets[name] = target
    if len(targets) < 2:
        parser.error("the Hat needs at least two --player")
    words = _read_words(parser, args.words)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    config = GameConfig(
        criteria=args.criteria,
        n_explain=args.n_explain,
        n_guess=args.n_guess,
        rounds=args.rounds,
        seed=seed,
        timeout=args.timeout,
    )
    log_path: Path = args.log or Path(f"hatbot-game-{seed}.jsonl")
    if args.report is not None:
        _check_report(parser, args.report)
    tls = tls_config(args, parser)
    with ExitStack() as stack:
        players: dict[str, Player] = {}
        for name, target in targets.items():
            try:
                players[name] = make_player(target, args.timeout, config.criteria, tls)
            except (ImportError, AttributeError, TypeError) as exc:
                parser.error(f"player {name}: cannot load {target}: {exc}")
            close = getattr(players[name], "close", None)
            if callable(close):
                stack.callback(close)
        try:
            log = stack.enter_context(GameLog.open(log_path))
        except OSError as exc:
            parser.error(f"cannot write the log: {exc}")
        progress = stack.enter_context(
            Progress(config.rounds * len(players), "turn", unit="turn", logger=_logger)
        )

        def show(turn: TurnRecord) -> None:
            found = f"{len(turn.guessed_at)}/{len(players) - 1} found"
            progress.advance(f"{turn.explainer} explained {turn.word!r}, {found}")

        result = play_game(players, words, config, log, targets=targets, on_turn=show)
    _print_results(result, log_path)
    if args.report is not None:
        _write_report(parser, args.report, result, log_path)
    return 0


def _read_words(parser: argparse.ArgumentParser, path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        parser.error(f"cannot read the word list: {exc}")
    words = [line.strip().lower() for line in text.splitlines() if line.strip()]
    if not words:
        parser.error(f"no words in {path}")
    return words


def _player(text: str) -> tuple[str, str]:
    name, sep, target = text.partition("=")
    if not sep or not name or not target:
        raise argparse.ArgumentTypeError(f"expected NAME=TARGET, got {text!r}")
    return name, target
