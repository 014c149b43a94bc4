"""Run the gRPC server: health NOT_SERVING until the model is warm, graceful stop on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hatbot.server.model import WordModel
from hatbot.server.service import Answerer, HatService
from hatbot.server.strategy import make_strategy
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = hatbot_pb2.DESCRIPTOR.services_by_name["HatService"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


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
) -> int:
    """Serve ``model_dir`` until SIGTERM or SIGINT, then drain and return the exit code 0.

    The port is bound (and announced on the log as ``listening on HOST:PORT``) before the
    model loads, so load balancers see NOT_SERVING rather than a refused connection.
    """
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    hat = HatService()
    hatbot_pb2_grpc.add_HatServiceServicer_to_server(hat, server)
    health_servicer = health.HealthServicer()
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

    try:
        model = WordModel(model_dir)
        chosen = make_strategy(strategy, model)
        model.warm_up()
    except BaseException:
        server.stop(None)
        raise
    hat.answerer = Answerer(model, chosen)
    if not stop.is_set():
        _set_health(health_servicer, SERVING)
        log.info("serving model %s with strategy %s", model.version, chosen.name)

    stop.wait()
    health_servicer.enter_graceful_shutdown()
    server.stop(grace_seconds).wait()
    log.info("stopped")
    return 0
