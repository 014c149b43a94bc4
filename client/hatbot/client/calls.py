"""What HatClient and AsyncHatClient share: argument checks, requests, response parsing and
the mapping of every failure to :class:`HatError` (their channel is :mod:`channels`'s).

A client turns each method call into a :class:`Call` here and only sends it, blocking or
awaiting; so both clients build the same requests and raise the same errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

T = TypeVar("T")
SERVICE_NAME = "hatbot.v1.HatService"
HEALTH_SERVICE_NAME = "grpc.health.v1.Health"
_INT32 = range(-(2**31), 2**31)

_CRITERIA = {
    None: hatbot_pb2.CRITERIA_UNSPECIFIED,
    "soft": hatbot_pb2.CRITERIA_SOFT,
    "hard": hatbot_pb2.CRITERIA_HARD,
}

FieldViolations = tuple[tuple[str, str], ...]


class HatError(Exception):
    """A failed call, or a call refused before it was sent.

    ``code`` is the gRPC status (INVALID_ARGUMENT, DEADLINE_EXCEEDED, UNAVAILABLE...),
    ``details`` the message, and ``field_violations`` the (field, description) pairs of a
    ``google.rpc.BadRequest``: which request field was wrong and why, empty when the error is
    not about a field. An argument the client cannot send (a wrong type, a number outside the
    contract's int32) is INVALID_ARGUMENT naming it, like the server's own checks; a call on
    a closed client is FAILED_PRECONDITION.
    """

    def __init__(
        self, code: grpc.StatusCode, details: str, field_violations: FieldViolations = ()
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.field_violations = field_violations


def stubs(channel: grpc.Channel | grpc.aio.Channel) -> dict[str, Any]:
    """The stubs a :class:`Call` names (``Call.stub``), on ``channel``."""
    return {
        "hat": hatbot_pb2_grpc.HatServiceStub(channel),
        "health": health_pb2_grpc.HealthStub(channel),
    }


def invalid_argument(field: str, problem: str) -> HatError:
    """The error for a bad argument, shaped like the server's: "FIELD: PROBLEM"."""
    return HatError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {problem}", ((field, problem),))


def closed() -> HatError:
    """The error of a call on a closed client."""
    return HatError(grpc.StatusCode.FAILED_PRECONDITION, "the client is closed")


def from_rpc_error(error: grpc.RpcError) -> HatError:
    """The HatError of a failed call (sync or grpc.aio), with its BadRequest violations."""
    code: grpc.StatusCode = error.code()
    details: str = error.details() or ""
    return HatError(code, details, _field_violations(error))


def _field_violations(error: grpc.RpcError) -> FieldViolations:
    try:  # a grpc.aio error is no grpc.Call but has the methods from_call reads
        status = rpc_status.from_call(cast(grpc.Call, error))
    except (ValueError, AttributeError):  # a status that contradicts the call's, or no call
        return ()
    if status is None:
        return ()
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            violations += [(v.field, v.description) for v in request.field_violations]
    return tuple(violations)


def check_client(timeout: object, retries: object) -> float:
    """The client's deadline in seconds, or the HatError of a bad ``timeout`` or ``retries``."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise invalid_argument("timeout", f"must be a positive number of seconds, got {timeout!r}")
    if not isinstance(retries, bool):
        raise invalid_argument("retries", f"must be True or False, got {retries!r}")
    return float(timeout)


def _string(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise invalid_argument(field, f"must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_argument(field, f"must be valid Unicode text, got {value!r:.60}") from None
    return value


def _int32(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_argument(field, f"must be an integer, got {type(value).__name__}")
    if value not in _INT32:
        raise invalid_argument(field, f"must fit the contract's int32, got {value}")
    return value


def _strings(values: object, field: str) -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise invalid_argument(field, f"must be a list of strings, got {type(values).__name__}")
    return [_string(value, f"{field}[{i}]") for i, value in enumerate(values)]


@dataclass(frozen=True)
class ModelInfo:
    """The model a server answers from (see ModelInfo in proto/hatbot/v1/hatbot.proto)."""

    name: str
    version: str
    corpus_sha256: str
    vocabulary_size: int
    vector_size: int
    n_trees: int
    search_k: int
    metric: str
    built_at: datetime
    strategy: str
    algorithm: str


@dataclass(frozen=True)
class Call(Generic[T]):
    """One checked request: the stub (``"hat"`` or ``"health"``) and method to send it with,
    and how to read the answer."""

    stub: str
    method: str
    request: Message
    parse: Callable[[Any], T]


def _words(response: hatbot_pb2.ExplainResponse | hatbot_pb2.GuessResponse) -> list[str]:
    return list(response.words)


def explain(word: object, n_words: object) -> Call[list[str]]:
    """The Explain call for ``word``."""
    request = hatbot_pb2.ExplainRequest(
        word=_string(word, "word"), n_words=_int32(n_words, "n_words")
    )
    return Call("hat", "Explain", request, _words)


def guess(words: object, n_words: object, criteria: object) -> Call[list[str]]:
    """The Guess call for the hints ``words``."""
    if not isinstance(criteria, str | None) or criteria not in _CRITERIA:
        raise invalid_argument("criteria", f"must be 'soft', 'hard' or None, got {criteria!r}")
    request = hatbot_pb2.GuessRequest(
        words=_strings(words, "words"),
        n_words=_int32(n_words, "n_words"),
        criteria=_CRITERIA[criteria],
    )
    return Call("hat", "Guess", request, _words)


def _model_info(response: hatbot_pb2.GetModelInfoResponse) -> ModelInfo:
    model = response.model
    return ModelInfo(
        name=model.name,
        version=model.version,
        corpus_sha256=model.corpus_sha256,
        vocabulary_size=model.vocabulary_size,
        vector_size=model.vector_size,
        n_trees=model.annoy.n_trees,
        search_k=model.annoy.search_k,
        metric=model.annoy.metric,
        built_at=model.built_at.ToDatetime(),
        strategy=model.strategy,
        algorithm=model.algorithm,
    )


def model_info() -> Call[ModelInfo]:
    """The GetModelInfo call."""
    return Call("hat", "GetModelInfo", hatbot_pb2.GetModelInfoRequest(), _model_info)


def _status(response: health_pb2.HealthCheckResponse) -> str:
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def health(service: object) -> Call[str]:
    """The standard health Check of ``service``."""
    request = health_pb2.HealthCheckRequest(service=_string(service, "service"))
    return Call("health", "Check", request, _status)
