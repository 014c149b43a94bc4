"""``hatbot serve``: serve a model over gRPC (and the REST protocol)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from hatbot import arguments
from hatbot.models.cli import server_extra_missing


def precompute(model_dir: Path, workers: int) -> list[str]:
    """Compute what the default strategy looks up when serving ``model_dir``; the files."""
    from hatbot.models import neighbours
    from hatbot.server import explanations

    explanations.build(model_dir, workers=workers)
    return [f"{neighbours.DIRECTORY}/{explanations.FILE}"]


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add ``serve`` to ``commands``."""
    serve = commands.add_parser("serve", help="serve a model over gRPC (and HTTP)", parents=parents)
    serve.add_argument(
        "--model",
        type=Path,
        help="model directory (default: the default model, trained first when missing)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: all)")
    serve.add_argument(
        "--port", type=arguments.port, default=50051, help="gRPC port; 0 picks a free one"
    )
    serve.add_argument(
        "--http-port",
        type=arguments.port,
        help="also serve the REST protocol on this port (0: a free one)",
    )
    serve.add_argument("--strategy", default="default", choices=["default", "baseline"])
    serve.add_argument(
        "--grace", type=arguments.positive_seconds, default=5.0, help="seconds to finish calls"
    )
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        from hatbot.models.store import MANIFEST, default_model_dir
        from hatbot.models.train import DEFAULT_EXTRA_VIEWS, train
        from hatbot.server.app import serve
    except ImportError as error:
        return server_extra_missing(error)
    model_dir = args.model or default_model_dir()
    prepare: Callable[[], object] | None = None
    if not (model_dir / MANIFEST).is_file():
        if args.model is not None:
            print(f"hatbot serve: not a model directory: {model_dir}", file=sys.stderr)
            return 1
        logging.getLogger("hatbot").info("no default model at %s: training it", model_dir)
        prepare = partial(
            train,
            None,
            model_dir,
            extra_views=DEFAULT_EXTRA_VIEWS,
            finish=lambda staged: precompute(staged, 2),
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
