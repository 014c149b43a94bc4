"""The hatbot.v1.HatService servicer: validates requests and asks the strategy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from hatbot.server import validation
from hatbot.server.model import WordModel
from hatbot.server.strategy import Strategy
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class HatService(hatbot_pb2_grpc.HatServiceServicer):
    """Answers the game's calls from one model; UNAVAILABLE until :meth:`attach` is called."""

    def __init__(self) -> None:
        self._model: WordModel | None = None
        self._strategy: Strategy | None = None

    def attach(self, model: WordModel, strategy: Strategy) -> None:
        """Start answering from ``model`` with ``strategy``."""
        self._model, self._strategy = model, strategy

    def _ready(self, context: grpc.ServicerContext) -> tuple[WordModel, Strategy]:
        if self._model is None or self._strategy is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the model is still loading")
        return self._model, self._strategy

    def _validated(self, context: grpc.ServicerContext, check: Callable[[], T]) -> T:
        try:
            return check()
        except validation.InvalidArgumentError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    def Explain(
        self, request: hatbot_pb2.ExplainRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.ExplainResponse:
        model, strategy = self._ready(context)
        word, n = self._validated(
            context,
            lambda: (validation.secret_word(request.word), validation.n_words(request.n_words)),
        )
        return hatbot_pb2.ExplainResponse(
            words=strategy.explain(word, n), model_version=model.version
        )

    def Guess(
        self, request: hatbot_pb2.GuessRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.GuessResponse:
        model, strategy = self._ready(context)
        hints, n = self._validated(
            context,
            lambda: (validation.hints(request.words), validation.n_words(request.n_words)),
        )
        return hatbot_pb2.GuessResponse(words=strategy.guess(hints, n), model_version=model.version)

    def GetModelInfo(
        self, request: hatbot_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.GetModelInfoResponse:
        model, strategy = self._ready(context)
        return hatbot_pb2.GetModelInfoResponse(model=model_info(model, strategy.name))
