"""One worker process: a gRPC server (and the REST side) on the shared port, one core's worth.

A worker reports NOT_SERVING until its parent has told it which model directory to serve and
it has loaded and warmed that model; it answers UNAVAILABLE meanwhile. A later model (a
reload) is loaded beside the current one and swapped in whole, so calls in flight finish on
the old one. On SIGTERM, or when its parent goes away, it turns NOT_SERVING, keeps answering
for the drain delay (load balancers stop sending), stops taking calls and lets those in
flight finish within the grace period.

Parent and worker talk over a pipe: the parent sends ``{"load": DIR}``; the worker answers
``{"loaded": DIR, "version": V}`` or ``{"failed": DIR, "error": MESSAGE}``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from grpc_reflection.v1alpha import reflection
from threadpoolctl import threadpool_limits

from hatbot.rules import Criteria
from hatbot.server import credentials
from hatbot.server.admission import AdmissionInterceptor, InFlight
from hatbot.server.health import SERVICE_NAME, SERVING, HealthServicer
from hatbot.server.metrics import Metrics
from hatbot.server.model import WordModel
from hatbot.server.observe import CallObserver, ObservingInterceptor
from hatbot.server.service import Answerer, HatService, add_hat_service
from hatbot.server.strategy import make_strategy

if TYPE_CHECKING:
    from hatbot.server.rest import HttpFrontEnd

log = logging.getLogger(__name__)

#: Requests are a few hundred bytes; anything near this is not a game call.
MAX_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker process of one server is started with (the defaults are
    ``hatbot serve``'s, in :mod:`hatbot.server.cli`)."""

    host: str
    port: int
    http_port: int | None
    strategy: str
    criteria: Criteria
    grace: float
    drain_delay: float
    max_in_flight: int
    max_connection_age: float
    access_log: bool
    tls: credentials.ServerTls | None

    @property
    def threads(self) -> int:
        # Admitted calls, plus health checks (a Watch holds a thread while it is open),
        # rejections and the other services.
        return self.max_in_flight + 64


def load_answerer(model_dir: Path, settings: WorkerSettings) -> Answerer:
    """The model of ``model_dir`` with the configured strategy, loaded and warmed up."""
    model = WordModel(model_dir)
    strategy = make_strategy(settings.strategy, model)
    strategy.warm_up()
    return Answerer(model, strategy, settings.criteria)


def grpc_options(settings: WorkerSettings) -> list[tuple[str, Any]]:
    """Channel arguments of a worker's gRPC server."""
    age_ms = int(settings.max_connection_age * 1000)
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # Connections end after this age (plus the grace for calls in flight), so clients
        # reconnect and L4 balancers spread them over new replicas.
        ("grpc.max_connection_age_ms", age_ms),
        ("grpc.max_connection_age_grace_ms", int(settings.grace * 1000)),
        # Keepalive pings find dead peers; clients may ping idle connections every 10 s.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),
    ]


class Worker:
    """The servers of one worker process; :meth:`run` serves until told to stop."""

    def __init__(
        self,
        number: int,
        settings: WorkerSettings,
        control: Connection,
        metrics: Metrics | None = None,
    ) -> None:
        self.number = number
        self.settings = settings
        self.control = control
        self.metrics = metrics
        self.observer = CallObserver(metrics, settings.access_log)
        self.stop = threading.Event()
        self.in_flight = InFlight(settings.max_in_flight)
        self.hat = HatService()
        self.health = HealthServicer()
        self._send_lock = threading.Lock()

    def send(self, message: dict[str, str]) -> None:
        """Tell the parent ``message``; a parent that went away is not an error here."""
        with self._send_lock:
            try:
                self.control.send(message)
            except OSError:
                self.stop.set()

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("worker %d: received %s, shutting down", self.number, signal.Signals(signum).name)
        self.stop.set()
        # The drain is bounded by the grace period, so repeats have nothing left to do; and
        # Python restores the default handlers at exit, where a repeat would kill the
        # process (exit -15) after a clean drain. Ignored signals stay ignored.
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, signal.SIG_IGN)

    def run(self) -> int:
        """Serve until SIGTERM, SIGINT or the parent's end of the pipe closes; the exit code."""
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        # Each call's matrix products are small: one BLAS thread per call is fastest, and BLAS
        # threads spinning beside gRPC's workers make latency many times worse on a busy core.
        threadpool_limits(limits=1, user_api="blas")
        settings = self.settings
        interceptors: list[Any] = [
            AdmissionInterceptor(self.in_flight, f"/{SERVICE_NAME}/", self.observer)
        ]
        if self.metrics is not None or settings.access_log:
            interceptors.insert(0, ObservingInterceptor(self.observer))
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.threads),
            interceptors=interceptors,
            options=grpc_options(settings),
        )
        add_hat_service(self.hat, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, HEALTH_SERVICE, reflection.SERVICE_NAME), server
        )
        address = f"[{settings.host}]" if ":" in settings.host else settings.host
        tls = settings.tls
        ssl_context = None
        try:
            if tls is None:
                server.add_insecure_port(f"{address}:{settings.port}")
            else:
                tls_credentials = credentials.ServerCredentials(tls)
                server.add_secure_port(f"{address}:{settings.port}", tls_credentials.grpc())
                ssl_context = tls_credentials.ssl_context()
        except credentials.PemError as error:  # a file changed since the server checked it
            self.send({"failed": "", "error": str(error)})
            return 1
        except RuntimeError as error:
            self.send({"failed": "", "error": f"cannot bind {address}:{settings.port}: {error}"})
            return 1
        server.start()
        with_tls = "" if tls is None else f" with {tls.description}"
        log.info("worker %d: listening on %s:%d%s", self.number, address, settings.port, with_tls)
        http = None
        if settings.http_port is not None:
            from hatbot.server.rest import HttpFrontEnd  # imported by app.serve before the fork

            http = HttpFrontEnd(
                lambda: self.hat.answerer,
                settings.host,
                settings.http_port,
                self.in_flight,
                reuse_port=True,
                observer=self.observer,
                ssl_context=ssl_context,
            )
            try:
                http.start()
            except OSError as error:
                server.stop(None)
                self.send({"failed": "", "error": f"cannot serve HTTP: {error}"})
                return 1
        threading.Thread(target=self._listen, name="hatbot-control", daemon=True).start()
        self.stop.wait()
        self._drain(server, http)
        return 0

    def _listen(self) -> None:
        """Carry out the parent's orders until its end of the pipe closes."""
        while not self.stop.is_set():
            try:
                message = self.control.recv()
            except (EOFError, OSError):
                log.info("worker %d: the parent went away, shutting down", self.number)
                self.stop.set()
                return
            if "load" in message:
                self._load(Path(message["load"]))

    def _load(self, model_dir: Path) -> None:
        started = time.perf_counter()
        try:
            answerer = load_answerer(model_dir, self.settings)
        except Exception as error:  # reported to the parent, which decides
            log.debug("worker %d: cannot load %s", self.number, model_dir, exc_info=True)
            self.send({"failed": str(model_dir), "error": f"{type(error).__name__}: {error}"})
            return
        previous = self.hat.answerer
        first = previous is None
        self.hat.answerer = answerer
        if self.metrics is not None:
            old = None if previous is None else previous.model.version
            self.metrics.serving(old, answerer.model.version, answerer.strategy.answers_live)
        if first and not self.stop.is_set():
            self.health.set_all(SERVING)
        log.info(
            "worker %d: serving model %s with strategy %s (loaded in %.2fs)",
            self.number,
            answerer.model.version,
            answerer.strategy.name,
            time.perf_counter() - started,
        )
        self.send({"loaded": str(model_dir), "version": answerer.model.version})

    def _drain(self, server: grpc.Server, http: HttpFrontEnd | None) -> None:
        settings = self.settings
        self.health.enter_graceful_shutdown()
        if settings.drain_delay:
            log.info(
                "worker %d: NOT_SERVING, answering %.1fs more", self.number, settings.drain_delay
            )
            time.sleep(settings.drain_delay)
        stopped = server.stop(settings.grace)
        if http is not None:
            http.stop(settings.grace)  # drains concurrently with gRPC
        stopped.wait()
        log.info("worker %d: stopped", self.number)
