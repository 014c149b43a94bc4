"""HatClient: typed calls to a hatbot server over one reused gRPC channel."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hatbot.closing import Closing
from hatbot.rules import Criteria
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

T = TypeVar("T")
SERVICE_NAME = "hatbot.v1.HatService"

# Calls are idempotent reads, so UNAVAILABLE (server restarting, connection refused) is
# retried by gRPC itself within the call's deadline.
_RETRY_SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{"service": SERVICE_NAME}, {"service": "grpc.health.v1.Health"}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}


_CRITERIA = {
    None: hatbot_pb2.CRITERIA_UNSPECIFIED,
    "soft": hatbot_pb2.CRITERIA_SOFT,
    "hard": hatbot_pb2.CRITERIA_HARD,
}


class HatError(Exception):
    """A failed call. ``code`` is the gRPC status (for example INVALID_ARGUMENT or
    DEADLINE_EXCEEDED) and ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


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


class HatClient(Closing):
    """A connection to a hatbot server; use as a context manager or call :meth:`close`.

    ``timeout`` is the deadline in seconds of every call (the game host allows about 1 s);
    ``retries`` turns gRPC's automatic retry of UNAVAILABLE on or off.
    """

    def __init__(self, target: str, timeout: float = 1.0, *, retries: bool = True) -> None:
        options: list[tuple[str, int | str]] = [("grpc.enable_retries", int(retries))]
        if retries:
            options.append(("grpc.service_config", json.dumps(_RETRY_SERVICE_CONFIG)))
        self.timeout = timeout
        self._channel = grpc.insecure_channel(target, options=options)
        self._hat = hatbot_pb2_grpc.HatServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self) -> None:
        """Close the channel; later calls fail."""
        self._channel.close()

    def _call(self, method: Callable[..., T], request: object) -> T:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise HatError(error.code(), error.details() or "") from None

    def explain(self, word: str, n_words: int = 5) -> list[str]:
        """Hints for the secret ``word``, strongest first (empty for an unknown word)."""
        request = hatbot_pb2.ExplainRequest(word=word, n_words=n_words)
        return list(self._call(self._hat.Explain, request).words)

    def guess(
        self, words: Sequence[str], n_words: int = 5, criteria: Criteria | None = None
    ) -> list[str]:
        """Guesses for the word behind the hints ``words`` (in revealed order), best first.

        Tell the host's ``criteria`` when known: under "soft" a guess may share a hint's stem
        or contain a hint (the soft host keeps such hints); unsaid, guesses are safe for both.
        """
        request = hatbot_pb2.GuessRequest(
            words=list(words), n_words=n_words, criteria=_CRITERIA[criteria]
        )
        return list(self._call(self._hat.Guess, request).words)

    def model_info(self) -> ModelInfo:
        """Describe the server's model."""
        model = self._call(self._hat.GetModelInfo, hatbot_pb2.GetModelInfoRequest()).model
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

    def health(self, service: str = "") -> str:
        """The standard health status, ``"SERVING"`` or ``"NOT_SERVING"``.

        ``service`` is ``""`` for the whole server or ``"hatbot.v1.HatService"``; another name
        raises :class:`HatError` with code NOT_FOUND.
        """
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._call(self._health.Check, request)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
