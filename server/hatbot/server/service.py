"""The hatbot.v1.HatService servicer and the validated answers it shares with HTTP."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2, message, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from hatbot.rules import Criteria
from hatbot.server import validation
from hatbot.server.model import WordModel
from hatbot.server.strategy import Strategy
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")

# One answer is computed at a time in a worker process. The scoring is short numpy work
# that releases the GIL only in pieces; several threads computing at once convoy on the GIL
# (unseen Guess at 8 in flight on 2 workers: 1,612 QPS without this lock, 1,953 with it),
# while waiting on a lock costs the queue nothing. Other cores are used by --workers.
_COMPUTE = threading.Lock()

EXPIRED = "the call's deadline passed before it could start"


class DeadlinePassedError(Exception):
    """The caller's deadline passed while its call waited for its turn: it is not computed."""


@contextmanager
def _turn(deadline: float | None) -> Iterator[None]:
    """This thread's turn to compute, unless ``deadline`` (``time.monotonic()``) passed first."""
    with _COMPUTE:
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlinePassedError
        yield


def model_info(model: WordModel, strategy: str) -> hatbot_pb2.ModelInfo:
    """The contract's description of a loaded model."""
    manifest = model.manifest
    built_at = Timestamp()
    built_at.FromJsonString(manifest.built_at)
    return hatbot_pb2.ModelInfo(
        name=manifest.name,
        version=manifest.version,
        corpus_sha256=str(manifest.corpus["sha256"]),
        vocabulary_size=manifest.vocabulary_size,
        vector_size=manifest.vector_size,
        annoy=hatbot_pb2.AnnoyParameters(
            n_trees=manifest.annoy.n_trees,
            search_k=manifest.annoy.search_k,
            metric=manifest.annoy.metric,
        ),
        built_at=built_at,
        strategy=strategy,
        algorithm=manifest.algorithm,
    )


def abort_invalid_argument(
    context: grpc.ServicerContext, error: validation.InvalidArgumentError
) -> NoReturn:
    """Abort the call INVALID_ARGUMENT with the error's message and, in the rich status
    (``grpc-status-details-bin``), a ``google.rpc.BadRequest`` naming the field."""
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=error.field, description=str(error).removeprefix(f"{error.field}: ")
    )
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(error), details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


class Answerer:
    """Validated answers from one model and strategy, shared by the gRPC and HTTP front ends.

    A request that does not say which criteria the host uses gets ``criteria``. Raises
    :class:`validation.InvalidArgumentError` for a request field out of range. Swapping the
    whole Answerer is how a server changes models: calls in flight finish on the old one.
    """

    def __init__(self, model: WordModel, strategy: Strategy, criteria: Criteria = "soft") -> None:
        self.model = model
        self.strategy = strategy
        self.criteria = criteria

    def explain(self, word: str, n_words: int, deadline: float | None = None) -> list[str]:
        checked_word, n = validation.secret_word(word), validation.n_words(n_words)
        with _turn(deadline):
            return self.strategy.explain(checked_word, n)

    def guess(
        self, words: Sequence[str], n_words: int, criteria: int = 0, deadline: float | None = None
    ) -> list[str]:
        hints, n = validation.hints(words), validation.n_words(n_words)
        checked_criteria = validation.criteria(criteria, self.criteria)
        with _turn(deadline):
            return self.strategy.guess(hints, n, checked_criteria)


class HatService(hatbot_pb2_grpc.HatServiceServicer):
    """Answers the game's calls; UNAVAILABLE until an :class:`Answerer` is attached."""

    def __init__(self) -> None:
        self.answerer: Answerer | None = None

    def _ready(self, context: grpc.ServicerContext) -> Answerer:
        if self.answerer is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the model is still loading")
        return self.answerer

    def _answer(self, context: grpc.ServicerContext, answer: Callable[[float | None], T]) -> T:
        """``answer(deadline)``; a call whose deadline passes before its turn ends
        DEADLINE_EXCEEDED with :data:`EXPIRED`, uncomputed."""
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        try:
            return answer(deadline)
        except validation.InvalidArgumentError as error:
            abort_invalid_argument(context, error)
        except DeadlinePassedError:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, EXPIRED)

    def Explain(
        self, request: hatbot_pb2.ExplainRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.ExplainResponse:
        answerer = self._ready(context)
        words = self._answer(
            context, lambda deadline: answerer.explain(request.word, request.n_words, deadline)
        )
        return hatbot_pb2.ExplainResponse(words=words, model_version=answerer.model.version)

    def Guess(
        self, request: hatbot_pb2.GuessRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.GuessResponse:
        answerer = self._ready(context)
        words = self._answer(
            context,
            lambda deadline: answerer.guess(
                request.words, request.n_words, request.criteria, deadline
            ),
        )
        return hatbot_pb2.GuessResponse(words=words, model_version=answerer.model.version)

    def GetModelInfo(
        self, request: hatbot_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.GetModelInfoResponse:
        answerer = self._ready(context)
        info = model_info(answerer.model, answerer.strategy.name)
        return hatbot_pb2.GetModelInfoResponse(model=info)


def add_hat_service(servicer: HatService, server: grpc.Server) -> None:
    """Serve every HatService method of ``servicer`` on ``server``.

    Unlike the generated ``add_HatServiceServicer_to_server``, whose deserializer failing makes
    gRPC answer INTERNAL, each method takes the raw request bytes and parses them itself: a
    request that is not a valid message is INVALID_ARGUMENT naming ``request``.
    """
    service = hatbot_pb2.DESCRIPTOR.services_by_name["HatService"]
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            _parsing(getattr(servicer, method.name), method.input_type),
            response_serializer=message_factory.GetMessageClass(
                method.output_type
            ).SerializeToString,
        )
        for method in service.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    # grpc-stubs 1.53 predates registered methods (grpcio 1.62), which the generated code uses.
    server.add_registered_method_handlers(service.full_name, handlers)  # type: ignore[attr-defined]


def _parsing(
    behaviour: Callable[[Any, grpc.ServicerContext], Any], request_type: Descriptor
) -> Callable[[bytes, grpc.ServicerContext], Any]:
    """``behaviour`` on the request parsed from the call's bytes, or INVALID_ARGUMENT."""
    parse = message_factory.GetMessageClass(request_type).FromString
    name = request_type.full_name

    def parsed(raw: bytes, context: grpc.ServicerContext) -> Any:
        try:
            request = parse(raw)
        except message.DecodeError as error:
            # upb says "Error parsing message with type 'T': REASON".
            reason = str(error).rpartition(": ")[2]
            problem = f"not a valid {name} message ({reason})"
            abort_invalid_argument(context, validation.InvalidArgumentError("request", problem))
        return behaviour(request, context)

    return parsed
