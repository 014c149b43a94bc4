"""``hatbot serve`` wired together: reserved ports, worker processes and their supervisor.

The ports are bound before any model loads, so load balancers see NOT_SERVING rather than
a refused connection; every worker reports SERVING once its model is loaded and warm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

from hatbot.server.ports import ReservedPort
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
) -> int:
    """Serve ``source`` from ``workers`` processes until SIGTERM or SIGINT, then drain; 0.

    ``settings`` give the ports to bind (0 picks free ones); ``prepare`` (training a missing
    default model) runs while the workers already answer NOT_SERVING. Raises
    :class:`~hatbot.server.ports.PortInUseError` for a port held elsewhere and
    :class:`~hatbot.server.supervisor.ServeError` when the model cannot be served.
    """
    with ExitStack() as reservations:
        grpc_port = reservations.enter_context(ReservedPort(settings.host, settings.port))
        http_port = None
        if settings.http_port is not None:
            http = ReservedPort(settings.host, settings.http_port, "--http-port")
            http_port = reservations.enter_context(http).port
        bound = replace(settings, port=grpc_port.port, http_port=http_port)
        return Supervisor(workers, bound, source, prepare=prepare, poll=poll).run()
