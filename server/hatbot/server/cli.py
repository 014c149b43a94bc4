"""``hatbot serve``: serve a model over gRPC (and the REST protocol)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from hatbot import arguments
from hatbot.models.cli import server_extra_missing
from hatbot.server.deferred_import import deferring

if TYPE_CHECKING:
    from hatbot.server.credentials import ServerTls

#: Modules gensim imports whole for topic models and word-pair evaluation, which a server
#: never runs; ``serve`` imports them only should anything use them.
UNUSED_BY_SERVING = ("scipy.stats", "scipy.optimize", "scipy.special")


def precompute(model_dir: Path, workers: int) -> list[str]:
    """Compute what the default strategy looks up when serving ``model_dir``; the files."""
    from hatbot.server import lookup

    return lookup.build(model_dir, workers=workers)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add ``serve`` to ``commands``."""
    serve = commands.add_parser("serve", help="serve a model over gRPC (and HTTP)", parents=parents)
    model = serve.add_mutually_exclusive_group()
    model.add_argument(
        "--model",
        type=Path,
        help="model directory (default: the default model, trained first when missing)",
    )
    model.add_argument(
        "--model-root",
        type=Path,
        metavar="ROOT",
        help="serve the newest complete version ROOT/N/ (N a positive integer) and move to "
        "newer ones on SIGHUP or every --poll seconds",
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
    serve.add_argument(
        "--workers",
        type=arguments.positive_int,
        default=len(os.sched_getaffinity(0)),
        help="worker processes sharing the port, one core each (default: the cores this "
        "process may run on; in a container with a CPU limit, set it to the limit)",
    )
    serve.add_argument(
        "--max-in-flight",
        type=arguments.positive_int,
        default=8,
        metavar="N",
        help="calls each worker accepts at once; more get RESOURCE_EXHAUSTED (HTTP 429) at once",
    )
    serve.add_argument("--strategy", default="default", choices=["default", "baseline"])
    serve.add_argument(
        "--criteria",
        default="soft",
        choices=["soft", "hard"],
        help="the host's criteria for Guess calls that do not say (the original game's: soft)",
    )
    serve.add_argument(
        "--grace", type=arguments.positive_seconds, default=5.0, help="seconds to finish calls"
    )
    serve.add_argument(
        "--drain-delay",
        type=arguments.seconds,
        default=0.25,
        metavar="S",
        help="after SIGTERM, keep answering this long while reporting NOT_SERVING, so that "
        "calls on their way are answered and load balancers stop sending first (behind a "
        "balancer: longer than its health-check interval)",
    )
    serve.add_argument(
        "--poll",
        type=arguments.positive_seconds,
        metavar="S",
        help="with --model-root, look for a new version this often (default: on SIGHUP only)",
    )
    serve.add_argument(
        "--max-connection-age",
        type=arguments.positive_seconds,
        default=300.0,
        metavar="S",
        help="close client connections after this long, so that L4 balancers rebalance",
    )
    serve.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve gRPC and HTTP over TLS with this PEM certificate chain (needs --tls-key)",
    )
    serve.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the PEM private key of --tls-cert"
    )
    serve.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="mutual TLS: refuse clients without a certificate signed by a CA in this PEM file",
    )
    serve.add_argument(
        "--metrics-port",
        type=arguments.port,
        metavar="PORT",
        help="serve Prometheus metrics of every worker on http://HOST:PORT/metrics (0: free)",
    )
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="json: one JSON object per line, with an access-log line per call",
    )
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        with deferring(*UNUSED_BY_SERVING):
            from hatbot.models.store import MANIFEST, default_model_dir
            from hatbot.models.train import DEFAULT_EXTRA_VIEWS, train
            from hatbot.server import credentials
            from hatbot.server.app import serve
            from hatbot.server.logs import use_json_logs
            from hatbot.server.ports import PortInUseError
            from hatbot.server.supervisor import ModelSource, ServeError
            from hatbot.server.worker import WorkerSettings
    except ImportError as error:
        return server_extra_missing(error)
    if args.log_format == "json":
        use_json_logs()
    if args.poll is not None and args.model_root is None:
        print("hatbot serve: --poll needs --model-root", file=sys.stderr)
        return 2
    try:
        tls = _tls(args)
    except ValueError as error:  # credentials.PemError: a file; else a missing option
        print(f"hatbot serve: {error}", file=sys.stderr)
        return 1 if isinstance(error, credentials.PemError) else 2
    prepare: Callable[[], object] | None = None
    if args.model_root is not None:
        if not args.model_root.is_dir():
            print(
                f"hatbot serve: --model-root is not a directory: {args.model_root}", file=sys.stderr
            )
            return 1
        source = ModelSource(root=args.model_root)
    else:
        model_dir = args.model or default_model_dir()
        source = ModelSource(directory=model_dir)
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
    settings = WorkerSettings(
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        strategy=args.strategy,
        criteria=args.criteria,
        grace=args.grace,
        drain_delay=args.drain_delay,
        max_in_flight=args.max_in_flight,
        max_connection_age=args.max_connection_age,
        access_log=args.log_format == "json",
        tls=tls,
    )
    try:
        return serve(
            source,
            settings,
            workers=args.workers,
            prepare=prepare,
            poll=args.poll,
            metrics_port=args.metrics_port,
        )
    except (PortInUseError, ServeError) as error:
        print(f"hatbot serve: {error}", file=sys.stderr)
        return 1


def _tls(args: argparse.Namespace) -> ServerTls | None:
    """The server's TLS files, checked; None without --tls-cert."""
    from hatbot.server import credentials

    if args.tls_cert is None:
        if args.tls_key is not None or args.tls_client_ca is not None:
            given = "--tls-key" if args.tls_key is not None else "--tls-client-ca"
            raise ValueError(f"{given} needs --tls-cert")
        return None
    if args.tls_key is None:
        raise ValueError("--tls-cert needs --tls-key")
    tls = credentials.ServerTls(args.tls_cert, args.tls_key, args.tls_client_ca)
    credentials.check(tls)
    return tls
