"""The ``hatbot`` command: train and serve models, and call a server from a terminal.

``train`` and ``serve`` need the server extra (``pip install 'hatbot[server]'``); the other
commands only need the client.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

DEFAULT_ADDR = os.environ.get("HATBOT_ADDR", "localhost:50051")
TRAIN_OPTIONS = (
    "algorithm",
    "stream",
    "vector_size",
    "window",
    "min_count",
    "epochs",
    "seed",
    "workers",
)
ANNOY_OPTIONS = ("n_trees", "search_k")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _server_extra_missing(error: ImportError) -> int:
    print(
        f"hatbot: {error}; install the server parts: pip install 'hatbot[server]'", file=sys.stderr
    )
    return 2


def _train(args: argparse.Namespace) -> int:
    try:
        from hatbot.models.store import AnnoySettings, default_model_dir
        from hatbot.models.train import DEFAULT_EXTRA_VIEWS, TrainSettings, train
        from hatbot.server import explanations
    except ImportError as error:
        return _server_extra_missing(error)
    given = {key: value for key, value in vars(args).items() if value is not None}
    settings = TrainSettings(**{f: given[f] for f in TRAIN_OPTIONS if f in given})
    annoy = AnnoySettings(**{f: given[f] for f in ANNOY_OPTIONS if f in given})
    out = args.out or default_model_dir()
    if args.explanations_only:
        return _explanations_only(args, out, settings.workers)
    try:
        manifest = train(
            args.corpus,
            out,
            name=args.name,
            settings=settings,
            extra_views={} if args.single_view else DEFAULT_EXTRA_VIEWS,
            annoy=annoy,
            replace=args.force,
            finish=partial(explanations.build, workers=settings.workers),
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"hatbot train: {error}", file=sys.stderr)
        return 1
    print(f"{manifest.version}: {manifest.vocabulary_size} words -> {out}")
    return 0


def _explanations_only(args: argparse.Namespace, out: Path, workers: int) -> int:
    """``hatbot train --explanations-only``: recompute an existing model's explanations."""
    from hatbot.models import neighbours, store
    from hatbot.server import explanations

    if args.corpus or args.force:
        print("hatbot train: --explanations-only takes no --corpus or --force", file=sys.stderr)
        return 2
    if not (out / store.MANIFEST).is_file():
        print(f"hatbot train: not a model directory: {out}", file=sys.stderr)
        return 1
    try:
        count = explanations.build(out, workers=workers)
    except (FileNotFoundError, ValueError) as error:
        print(f"hatbot train: {error}", file=sys.stderr)
        return 1
    store.refresh_file_digests(out, [f"{neighbours.DIRECTORY}/{explanations.FILE}"])
    print(f"precomputed the explanations of {count} words in {out}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from hatbot.models.store import MANIFEST, default_model_dir
        from hatbot.models.train import DEFAULT_EXTRA_VIEWS, train
        from hatbot.server import explanations
        from hatbot.server.app import serve
    except ImportError as error:
        return _server_extra_missing(error)
    model_dir = args.model or default_model_dir()
    prepare: Callable[[], object] | None = None
    if not (model_dir / MANIFEST).is_file():
        if args.model is not None:
            print(f"hatbot serve: not a model directory: {model_dir}", file=sys.stderr)
            return 1
        logging.getLogger("hatbot").info("no default model at %s: training it", model_dir)
        prepare = partial(
            train, None, model_dir, extra_views=DEFAULT_EXTRA_VIEWS, finish=explanations.build
        )

    try:
        return serve(
            model_dir,
            host=args.host,
            port=args.port,
            strategy=args.strategy,
            grace_seconds=args.grace,
            http_port=args.http_port,
            prepare=prepare,
        )
    except (OSError, ValueError) as error:  # a model that cannot load, a port that cannot bind
        print(f"hatbot serve: {error}", file=sys.stderr)
        return 1


def _client_call(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hatbot", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model and publish it to a directory")
    train.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="20 Newsgroups tarball, directory of text files or text file (repeatable); "
        "default: English text shipped with gensim",
    )
    train.add_argument("--out", type=Path, help="model directory (default: the default model)")
    train.add_argument("--name", default="default", help="model name (default: default)")
    train.add_argument("--force", action="store_true", help="replace an existing model")
    # Unset options keep the defaults of TrainSettings and AnnoySettings (README: Models).
    train.add_argument(
        "--algorithm",
        choices=["word2vec-skipgram", "word2vec-cbow", "fasttext-skipgram", "fasttext-cbow"],
        help="of the main view",
    )
    train.add_argument(
        "--explanations-only",
        action="store_true",
        help="only (re)compute the default strategy's explanations of the model at --out",
    )
    train.add_argument(
        "--single-view",
        action="store_true",
        help="train only the main view, not the extra views the default strategy also uses",
    )
    train.add_argument("--stream", choices=["content", "all"], help="drop stop words or not")
    train.add_argument("--vector-size", type=_positive_int)
    train.add_argument("--window", type=_positive_int)
    train.add_argument("--min-count", type=_positive_int)
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--seed", type=int)
    train.add_argument("--workers", type=_positive_int, help="1 = reproducible")
    train.add_argument("--n-trees", type=_positive_int, help="Annoy trees")
    train.add_argument("--search-k", type=_positive_int, help="Annoy search_k")
    train.set_defaults(func=_train)

    serve = commands.add_parser("serve", help="serve a model over gRPC (and HTTP)")
    serve.add_argument(
        "--model",
        type=Path,
        help="model directory (default: the default model, trained first when missing)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    serve.add_argument(
        "--http-port", type=int, help="also serve the REST protocol on this port (0: a free one)"
    )
    serve.add_argument("--strategy", default="default", choices=["default", "baseline"])
    serve.add_argument("--grace", type=_seconds, default=5.0, help="seconds to finish calls")
    serve.set_defaults(func=_serve)

    for name, help_text in (
        ("explain", "ask a server for hints"),
        ("guess", "ask a server for guesses"),
        ("info", "describe a server's model"),
        ("health", "check a server's health; exit 0 only when SERVING"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--addr", default=DEFAULT_ADDR, help=f"server (default {DEFAULT_ADDR})")
        sub.add_argument("--timeout", type=_seconds, default=1.0, help="deadline in seconds")
        if name in ("explain", "guess"):
            sub.add_argument("-n", type=_positive_int, default=5, help="how many words")
        if name == "explain":
            sub.add_argument("word")
        elif name == "guess":
            sub.add_argument("words", nargs="+")
        elif name == "health":
            sub.add_argument("--service", default="", help='service name ("" = whole server)')
        sub.set_defaults(func=_client_call)

    from hatbot.game.cli import register

    register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("gensim").setLevel(logging.WARNING)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
