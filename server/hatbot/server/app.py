"""``hatbot serve`` wired together: reserved ports, worker processes and their supervisor.

The ports are bound before any model loads, so load balancers see NOT_SERVING rather than
a refused connection; every worker reports SERVING once its model is loaded and warm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

from hatbot.server.metrics import Metrics
from hatbot.server.ports import PortInUseError, ReservedPort, grpc_address
from hatbot.server.supervisor import ModelSource, Supervisor
from hatbot.server.worker import WorkerSettings

log = logging.getLogger(__name__)


def serve(
    source: ModelSource,
    settings: WorkerSettings,
    *,
    workers: int = 1,
    prepare: Callable[[], object] | None = None,
    poll: float | None = None,
    metrics_port: int | None = None,
) -> int:
    """Serve ``source`` from ``workers`` processes until SIGTERM or SIGINT, then drain; 0.

    ``settings`` give the ports to bind (0 picks free ones); ``prepare`` (training a missing
    default model) runs while the workers already answer NOT_SERVING. Raises
    :class:`~hatbot.server.ports.PortInUseError` for a port held elsewhere and
    :class:`~hatbot.server.supervisor.ServeError` when the model cannot be served. With
    ``metrics_port`` the parent serves Prometheus metrics of every process on ``/metrics``.
    """
    with ExitStack() as reservations:
        grpc_port = reservations.enter_context(ReservedPort(settings.host, settings.port))
        http_port = None
        if settings.http_port is not None:
            http = ReservedPort(settings.host, settings.http_port, "--http-port")
            http_port = reservations.enter_context(http).port
        bound = replace(settings, port=grpc_port.port, http_port=http_port)
        if http_port is not None:
            # aiohttp takes a fifth of a cold start to import: only with the REST side, and
            # before the workers fork, so that they share it.
            import hatbot.server.rest  # noqa: F401
        metrics = None
        if metrics_port is not None:
            metrics = Metrics()
            reservations.callback(metrics.close)
            try:
                port = metrics.serve(settings.host, metrics_port)
            except OSError as error:
                where = grpc_address(settings.host, metrics_port)
                raise PortInUseError(f"cannot bind --metrics-port {where}: {error}") from None
            log.info("metrics listening on %s", grpc_address(settings.host, port))
        supervisor = Supervisor(workers, bound, source, prepare=prepare, poll=poll, metrics=metrics)
        return supervisor.run()
