"""Run the gRPC server: health NOT_SERVING until the model is warm, graceful stop on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from threadpoolctl import threadpool_limits

from hatbot.server.model import WordModel
from hatbot.server.rest import HttpFrontEnd
from hatbot.server.service import Answerer, HatService
from hatbot.server.strategy import make_strategy
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = hatbot_pb2.DESCRIPTOR.services_by_name["HatService"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class _HealthServicer(health.HealthServicer):
    """grpcio-health-checking's servicer, with Watch updates sent outside its lock.

    Upstream (1.85) sends while holding the lock, and a Watch stream closing meanwhile needs
    that lock on gRPC's only event thread, which must also complete the send: a deadlock,
    e.g. in enter_graceful_shutdown() on SIGTERM (the fix proposed in grpc/grpc#43403).
    """

    _gracefully_shutting_down: bool

    def set(self, service: str, status: int) -> None:
        with self._lock:
            if self._gracefully_shutting_down:
                return
            self._server_status[service] = status
            callbacks = list(self._send_response_callbacks.get(service, ()))
        for callback in callbacks:
            callback(health_pb2.HealthCheckResponse(status=status))

    def enter_graceful_shutdown(self) -> None:
        with self._lock:
            if self._gracefully_shutting_down:
                return
            callbacks = []
            for service in self._server_status:
                self._server_status[service] = NOT_SERVING
                callbacks += self._send_response_callbacks.get(service, ())
            self._gracefully_shutting_down = True
        for callback in callbacks:
            callback(health_pb2.HealthCheckResponse(status=NOT_SERVING))


def _set_health(servicer: health.HealthServicer, status: int) -> None:
    for service in ("", SERVICE_NAME):
        servicer.set(service, status)


def serve(
    model_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 50051,
    strategy: str = "default",
    grace_seconds: float = 5.0,
    max_workers: int = 16,
    http_port: int | None = None,
    prepare: Callable[[], object] | None = None,
) -> int:
    """Serve ``model_dir`` until SIGTERM or SIGINT, then drain and return the exit code 0.

    From the first such signal on, both are ignored for the rest of the process: it is on its
    way out, and the drain is bounded by ``grace_seconds``.

    The port is bound (and announced on the log as ``listening on HOST:PORT``) before the
    model loads, so load balancers see NOT_SERVING rather than a refused connection;
    ``prepare`` (for example, training a missing default model) runs after that, too.
    With ``http_port`` the same answers are also served over HTTP (see
    :mod:`hatbot.server.rest`), bound and stopped alongside gRPC.
    """
    # Each call's matrix products are small: one BLAS thread per call is fastest, and BLAS
    # threads spinning beside gRPC's workers make latency many times worse on a busy machine.
    threadpool_limits(limits=1, user_api="blas")
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()
        # The drain is bounded by the grace period, so repeats have nothing left to do; and
        # Python restores the default handlers at exit, where a repeat would kill the
        # process (exit -15) after a clean drain. Ignored signals stay ignored.
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, signal.SIG_IGN)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    hat = HatService()
    hatbot_pb2_grpc.add_HatServiceServicer_to_server(hat, server)
    health_servicer = _HealthServicer()
    _set_health(health_servicer, NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    server.start()
    log.info("listening on %s:%d", host, bound)
    http = None if http_port is None else HttpFrontEnd(lambda: hat.answerer, host, http_port)

    try:
        if http is not None:
            http.start()
        if prepare is not None:
            prepare()
        model = WordModel(model_dir)
        chosen = make_strategy(strategy, model)
        chosen.warm_up()
    except BaseException:
        server.stop(None)
        if http is not None:
            http.stop(0)
        raise
    hat.answerer = Answerer(model, chosen)
    if not stop.is_set():
        _set_health(health_servicer, SERVING)
        log.info("serving model %s with strategy %s", model.version, chosen.name)

    stop.wait()
    health_servicer.enter_graceful_shutdown()
    stopped = server.stop(grace_seconds)
    if http is not None:
        http.stop(grace_seconds)  # drains concurrently with gRPC
    stopped.wait()
    log.info("stopped")
    return 0
