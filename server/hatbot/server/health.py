"""The standard grpc.health.v1 service, for the whole server ("") and hatbot.v1.HatService."""

from __future__ import annotations

from grpc_health.v1 import health, health_pb2

from hatbot.v1 import hatbot_pb2

SERVICE_NAME = hatbot_pb2.DESCRIPTOR.services_by_name["HatService"].full_name
SERVICES = ("", SERVICE_NAME)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthServicer(health.HealthServicer):
    """grpcio-health-checking's servicer, with Watch updates sent outside its lock.

    Upstream (1.85) sends while holding the lock, and a Watch stream closing meanwhile needs
    that lock on gRPC's only event thread, which must also complete the send: a deadlock,
    e.g. in enter_graceful_shutdown() on SIGTERM (the fix proposed in grpc/grpc#43403).
    It starts NOT_SERVING for every service of :data:`SERVICES`.
    """

    _gracefully_shutting_down: bool

    def __init__(self) -> None:
        super().__init__()
        self.set_all(NOT_SERVING)

    def set(self, service: str, status: int) -> None:
        with self._lock:
            if self._gracefully_shutting_down:
                return
            self._server_status[service] = status
            callbacks = list(self._send_response_callbacks.get(service, ()))
        for callback in callbacks:
            callback(health_pb2.HealthCheckResponse(status=status))

    def set_all(self, status: int) -> None:
        """Report ``status`` for the server and for hatbot.v1.HatService."""
        for service in SERVICES:
            self.set(service, status)

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
