"""HatClient against in-process fake servers: retries, deadline, errors, closing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent import futures
from datetime import datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from hatbot.client import AsyncHatClient, HatClient, HatError, ModelInfo
from hatbot.closing import Closing
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc


class FlakyHat(hatbot_pb2_grpc.HatServiceServicer):
    """Aborts the first ``failures`` calls with ``code``, then answers; counts attempts."""

    def __init__(
        self, failures: int = 0, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    ) -> None:
        self.failures = failures
        self.code = code
        self.attempts = 0
        self.requests: list[object] = []
        self.release = threading.Event()  # blocks calls while ``block`` is set
        self.block = False
        self._lock = threading.Lock()

    def _attempt(self, request: object, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.attempts += 1
            self.requests.append(request)
            failing = self.attempts <= self.failures
        if failing:
            context.abort(self.code, "warming up")
        if self.block:
            self.release.wait(30)

    def Explain(  # noqa: N802 (RPC name)
        self, request: hatbot_pb2.ExplainRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.ExplainResponse:
        self._attempt(request, context)
        if request.word == "bad":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "word: nope")
        return hatbot_pb2.ExplainResponse(words=["hint", request.word[::-1]], model_version="v")

    def Guess(  # noqa: N802 (RPC name)
        self, request: hatbot_pb2.GuessRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.GuessResponse:
        self._attempt(request, context)
        return hatbot_pb2.GuessResponse(words=list(request.words)[::-1], model_version="v")

    def GetModelInfo(  # noqa: N802 (RPC name)
        self, request: hatbot_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> hatbot_pb2.GetModelInfoResponse:
        self._attempt(request, context)
        built_at = Timestamp()
        built_at.FromJsonString("2024-05-06T07:08:09Z")
        model = hatbot_pb2.ModelInfo(
            name="fake",
            version="fake-1",
            corpus_sha256="ab" * 32,
            vocabulary_size=1234,
            vector_size=64,
            annoy=hatbot_pb2.AnnoyParameters(n_trees=7, search_k=99, metric="angular"),
            built_at=built_at,
            strategy="baseline",
            algorithm="word2vec-cbow",
        )
        return hatbot_pb2.GetModelInfoResponse(model=model)


class FakeServer(Closing):
    """An in-process gRPC server on 127.0.0.1 with a :class:`FlakyHat`; stopped on close."""

    def __init__(self, hat: FlakyHat) -> None:
        self.hat = hat
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        hatbot_pb2_grpc.add_HatServiceServicer_to_server(hat, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        assert port != 0
        self.address = f"127.0.0.1:{port}"
        self.server.start()

    def close(self) -> None:
        self.hat.release.set()
        self.server.stop(None).wait(10)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """A fake server whose first two calls fail UNAVAILABLE."""
    with FakeServer(FlakyHat(failures=2)) as server:
        yield server


def test_unavailable_is_retried_by_the_service_config(fake: FakeServer) -> None:
    with HatClient(fake.address, timeout=10.0) as hat:
        assert hat.explain("river", 3) == ["hint", "revir"]
    assert fake.hat.attempts == 3


def test_guess_is_retried_too(fake: FakeServer) -> None:
    with HatClient(fake.address, timeout=10.0) as hat:
        assert hat.guess(["a", "b"], 3) == ["b", "a"]
    assert fake.hat.attempts == 3


def test_without_retries_unavailable_is_raised_after_one_attempt(fake: FakeServer) -> None:
    with HatClient(fake.address, timeout=10.0, retries=False) as hat, pytest.raises(HatError) as e:
        hat.explain("river", 3)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert e.value.details == "warming up"
    assert fake.hat.attempts == 1


def test_retries_give_up_after_max_attempts() -> None:
    with (
        FakeServer(FlakyHat(failures=100)) as server,
        HatClient(server.address, timeout=10.0) as hat,
        pytest.raises(HatError) as e,
    ):
        hat.explain("river", 3)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert server.hat.attempts == 4, "the service config allows 4 attempts"


def test_resource_exhausted_is_retried() -> None:
    shedding = FlakyHat(failures=2, code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    with FakeServer(shedding) as server, HatClient(server.address, timeout=10.0) as hat:
        assert hat.explain("river", 3) == ["hint", "revir"]
    assert shedding.attempts == 3


def test_retry_throttling_stops_retries_while_most_calls_fail() -> None:
    """Each failed attempt costs a token of 100; below 50 nothing is retried (gRFC A6)."""
    shedding = FlakyHat(failures=10**6, code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    attempts = []
    with FakeServer(shedding) as server, HatClient(server.address, timeout=10.0) as hat:
        for _ in range(40):
            before = shedding.attempts
            with pytest.raises(HatError) as e:
                hat.explain("river", 3)
            assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            attempts.append(shedding.attempts - before)
    assert attempts[0] == 4, "retried while the tokens last"
    assert attempts[-10:] == [1] * 10, "then each call is tried once"
    assert sum(attempts) < 40 + 50 + 4


def test_a_balanced_client_retries_a_shedding_replica_on_the_other() -> None:
    shedding = FlakyHat(failures=10**6, code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    with (
        FakeServer(shedding) as full,
        FakeServer(FlakyHat()) as free,
        HatClient([full.address, free.address], timeout=10.0) as hat,
    ):
        for _ in range(20):
            assert hat.explain("river", 3) == ["hint", "revir"]
    assert free.hat.attempts == 20
    assert shedding.attempts > 0, "round robin sent calls to both"


def test_other_errors_are_not_retried() -> None:
    with (
        FakeServer(FlakyHat()) as server,
        HatClient(server.address, timeout=10.0) as hat,
        pytest.raises(HatError) as e,
    ):
        hat.explain("bad", 3)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details == "word: nope"
    assert str(e.value) == "INVALID_ARGUMENT: word: nope"
    assert server.hat.attempts == 1


def test_deadline_exceeded() -> None:
    hat = FlakyHat()
    hat.block = True
    with (
        FakeServer(hat) as server,
        HatClient(server.address, timeout=0.2) as client,
        pytest.raises(HatError) as e,
    ):
        client.explain("river", 3)
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert isinstance(e.value.details, str)


def test_requests_carry_the_arguments() -> None:
    with FakeServer(FlakyHat()) as server, HatClient(server.address, timeout=10.0) as hat:
        hat.explain("River", 7)
        hat.guess(("one", "two"), 9)
    explain, guess = server.hat.requests
    assert isinstance(explain, hatbot_pb2.ExplainRequest)
    assert (explain.word, explain.n_words) == ("River", 7)
    assert isinstance(guess, hatbot_pb2.GuessRequest)
    assert (list(guess.words), guess.n_words) == (["one", "two"], 9)


def test_model_info_converts_every_field(fake: FakeServer) -> None:
    with HatClient(fake.address, timeout=10.0) as hat:
        info = hat.model_info()
    assert info == ModelInfo(
        name="fake",
        version="fake-1",
        corpus_sha256="ab" * 32,
        vocabulary_size=1234,
        vector_size=64,
        n_trees=7,
        search_k=99,
        metric="angular",
        built_at=datetime(2024, 5, 6, 7, 8, 9),
        strategy="baseline",
        algorithm="word2vec-cbow",
    )


def test_context_manager_closes_the_channel() -> None:
    with FakeServer(FlakyHat()) as server:
        with HatClient(server.address, timeout=10.0) as hat:
            assert hat.explain("river", 3)
        with pytest.raises(Exception, match=r"(?i)closed"):
            hat.explain("river", 3)
    assert server.hat.attempts == 1, "no call may reach the server after close"


def test_unimplemented_health_is_a_hat_error() -> None:
    """The fake has no health service: the error is a HatError, not a raw RpcError."""
    with (
        FakeServer(FlakyHat()) as server,
        HatClient(server.address, timeout=10.0) as hat,
        pytest.raises(HatError) as e,
    ):
        hat.health()
    assert e.value.code == grpc.StatusCode.UNIMPLEMENTED


def test_real_server_health_and_info(hat_server: str) -> None:
    with HatClient(hat_server) as hat:
        assert hat.health() == "SERVING"
        assert hat.health("hatbot.v1.HatService") == "SERVING"
        assert hat.model_info().name == "tiny"


# AsyncHatClient shares the channel options, so the same retries and deadline apply.


def test_async_client_retries_unavailable(fake: FakeServer) -> None:
    async def explain() -> list[str]:
        async with AsyncHatClient(fake.address, timeout=10.0) as hat:
            return await hat.explain("river", 3)

    assert asyncio.run(explain()) == ["hint", "revir"]
    assert fake.hat.attempts == 3


def test_async_client_without_retries_raises_after_one_attempt(fake: FakeServer) -> None:
    async def explain() -> list[str]:
        async with AsyncHatClient(fake.address, timeout=10.0, retries=False) as hat:
            return await hat.explain("river", 3)

    with pytest.raises(HatError) as e:
        asyncio.run(explain())
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert e.value.details == "warming up"
    assert fake.hat.attempts == 1


def test_async_deadline_exceeded() -> None:
    hat = FlakyHat()
    hat.block = True

    async def explain(address: str) -> list[str]:
        async with AsyncHatClient(address, timeout=0.2) as client:
            return await client.explain("river", 3)

    with FakeServer(hat) as server, pytest.raises(HatError) as e:
        asyncio.run(explain(server.address))
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_refused_argument_never_reaches_the_server() -> None:
    async def guess(address: str) -> list[str]:
        async with AsyncHatClient(address, timeout=10.0) as client:
            return await client.guess(["river"], 3, criteria="Soft")  # type: ignore[arg-type]

    with FakeServer(FlakyHat()) as server:
        with HatClient(server.address, timeout=10.0) as hat, pytest.raises(HatError):
            hat.explain("river", 2**40)
        with pytest.raises(HatError):
            asyncio.run(guess(server.address))
        assert server.hat.attempts == 0


def test_async_model_info_converts_every_field(fake: FakeServer) -> None:
    async def info() -> ModelInfo:
        async with AsyncHatClient(fake.address, timeout=10.0) as hat:
            return await hat.model_info()

    with HatClient(fake.address, timeout=10.0) as hat:
        assert asyncio.run(info()) == hat.model_info()
