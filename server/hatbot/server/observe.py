"""What every finished call leaves behind: metrics and, when asked for, an access-log line.

The access log is one JSON object per call on the ``hatbot.access`` logger: method, status
code, latency in milliseconds, peer and the model version that answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from hatbot.server.metrics import Metrics

# grpc-stubs makes these generic; at run time they are plain classes.
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Interceptor = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    Interceptor = grpc.ServerInterceptor

access = logging.getLogger("hatbot.access")


def handler_like(behaviour: Callable[[Any, grpc.ServicerContext], Any], like: Handler) -> Handler:
    """A handler of ``like``'s kind (unary response; unary or streamed request) running
    ``behaviour`` with the (de)serializers of ``like``."""
    make = (
        grpc.stream_unary_rpc_method_handler
        if like.request_streaming
        else grpc.unary_unary_rpc_method_handler
    )
    return make(
        behaviour,
        request_deserializer=like.request_deserializer,
        response_serializer=like.response_serializer,
    )


class CallObserver:
    """Counts calls and their latency in ``metrics`` and logs them when ``access_log``."""

    def __init__(self, metrics: Metrics | None, access_log: bool) -> None:
        self.metrics = metrics
        self.access_log = access_log
        # labels() looks its child up under a lock each time: 10 of a call's 22 µs of
        # metrics. The keys are few: the registered methods (no other reaches an
        # observer), status codes and the metrics themselves, which live as long.
        self._children: dict[tuple[object, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def started(self, method: str) -> None:
        if self.metrics is not None:
            self._child(self.metrics.in_flight, method).inc()

    def finished(self, method: str, code: str, seconds: float, peer: str, version: str) -> None:
        """Record a call that ``started`` earlier."""
        if self.metrics is not None:
            self._child(self.metrics.in_flight, method).dec()
            self._child(self.metrics.calls, method, code).inc()
            self._child(self.metrics.latency, method).observe(seconds)
        if self.access_log:
            access.info(
                "call",
                extra={
                    "method": method,
                    "code": code,
                    "latency_ms": round(seconds * 1000, 3),
                    "peer": peer,
                    "model_version": version,
                },
            )

    def shed(self, method: str) -> None:
        if self.metrics is not None:
            self._child(self.metrics.shed, method).inc()

    def expired(self, method: str) -> None:
        if self.metrics is not None:
            self._child(self.metrics.expired, method).inc()


def answered_version(response: object) -> str:
    """The model version a response names (HatService responses carry one)."""
    version = getattr(response, "model_version", "")
    if not version and hasattr(response, "model"):
        version = getattr(response.model, "version", "")
    return str(version)


class ObservingInterceptor(Interceptor):
    """Records every call with a unary response through ``observer`` (response streams, such
    as health Watch, pass)."""

    def __init__(self, observer: CallObserver) -> None:
        self._observer = observer

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(details)
        if handler is None or handler.response_streaming:
            return handler
        return _observed(handler, details.method, self._observer)


def _observed(handler: Handler, method: str, observer: CallObserver) -> Handler:
    inner = handler.unary_unary or handler.stream_unary
    assert inner is not None

    def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        observer.started(method)
        response = None
        try:
            response = inner(request, context)
            return response
        finally:
            code = context.code() or grpc.StatusCode.OK  # type: ignore[attr-defined]
            if response is None and code == grpc.StatusCode.OK:
                code = grpc.StatusCode.UNKNOWN  # an exception other than abort
            observer.finished(
                method,
                code.name,
                time.perf_counter() - started,
                context.peer(),
                answered_version(response),
            )

    return handler_like(behaviour, handler)
