"""Every failure of HatClient and AsyncHatClient is a HatError, against the session's server:
bad arguments named like the server names a bad field, the server's BadRequest field
violations, closed clients, unreachable servers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from hatbot.client import AsyncHatClient, HatClient, HatError

Call = Callable[..., Any]


def run(kind: str, target: str, method: str, *args: Any, client: Any = None, **kwargs: Any) -> Any:
    """``HatClient(target, **client).method(*args, **kwargs)``, or the same awaited on an
    AsyncHatClient made in a fresh event loop."""
    options = {"timeout": 10.0, **(client or {})}
    if kind == "sync":
        with HatClient(target, **options) as hat:
            return getattr(hat, method)(*args, **kwargs)

    async def call() -> Any:
        async with AsyncHatClient(target, **options) as hat:
            return await getattr(hat, method)(*args, **kwargs)

    return asyncio.run(call())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Each test runs with HatClient and with AsyncHatClient."""
    return str(request.param)


def refused(kind: str, target: str, method: str, *args: Any, **kwargs: Any) -> HatError:
    with pytest.raises(HatError) as caught:
        run(kind, target, method, *args, **kwargs)
    return caught.value


def assert_names(error: HatError, field: str, problem: str) -> None:
    """INVALID_ARGUMENT "FIELD: ...", with the one field violation (FIELD, ...)."""
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.details.startswith(f"{field}: "), error
    assert problem in error.details, error
    assert error.field_violations == ((field, error.details.removeprefix(f"{field}: ")),)


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "field", "problem"),
    [
        ("guess", (["river"], 5), {"criteria": "Soft"}, "criteria", "got 'Soft'"),
        ("guess", (["river"], 5), {"criteria": 1}, "criteria", "got 1"),
        ("explain", ("river", 2**40), {}, "n_words", "int32, got 1099511627776"),
        ("guess", (["river"], -(2**31) - 1), {}, "n_words", "int32"),
        ("explain", ("river", "5"), {}, "n_words", "must be an integer, got str"),
        ("explain", ("river", 5.0), {}, "n_words", "must be an integer, got float"),
        ("explain", ("river", True), {}, "n_words", "must be an integer, got bool"),
        ("explain", (5, 5), {}, "word", "must be a string, got int"),
        ("explain", (b"river", 5), {}, "word", "must be a string, got bytes"),
        ("explain", ("riv\udc80er", 5), {}, "word", "valid Unicode"),
        ("guess", ("river", 5), {}, "words", "must be a list of strings, got str"),
        ("guess", (None, 5), {}, "words", "got NoneType"),
        ("guess", (["river", 3], 5), {}, "words[1]", "must be a string, got int"),
        ("health", (None,), {}, "service", "must be a string, got NoneType"),
    ],
)
def test_an_argument_the_client_cannot_send_is_named(
    hat_server: str,
    kind: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    assert_names(refused(kind, hat_server, method, *args, **kwargs), field, problem)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": "1"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"retries": "no"}, "retries"),
    ],
)
def test_a_bad_client_argument_is_named(
    hat_server: str, kind: str, options: dict[str, Any], field: str
) -> None:
    error = refused(kind, hat_server, "health", client=options)
    assert_names(error, field, "must be")


@pytest.mark.parametrize("target", ["", "  ", None, 50051, [], ["127.0.0.1:1", 2], "a:1,,b:2"])
def test_a_bad_target_is_named(kind: str, target: Any) -> None:
    assert_names(refused(kind, target, "health"), "target", "must be an address")


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("localhost:1,localhost:2", "must be IP:PORT (gRPC resolves no names in a list"),
        (["127.0.0.1:1", "127.0.0.1"], "got '127.0.0.1'"),
        ("127.0.0.1:1,127.0.0.1:70000", "got '127.0.0.1:70000'"),
        ("127.0.0.1:1,[::1]:2", "must be all IPv4 or all IPv6"),
    ],
)
def test_a_bad_list_of_addresses_is_named(kind: str, target: Any, problem: str) -> None:
    assert_names(refused(kind, target, "health"), "target", problem)


def test_several_ipv6_addresses_are_a_target(kind: str) -> None:
    """A list of IPv6 addresses is a valid target (nothing listens there: UNAVAILABLE)."""
    error = refused(kind, "[::1]:1,[::1]:2", "health", client={"timeout": 2.0})
    assert error.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("method", "args", "field", "violation"),
    [
        ("explain", ("ab1", 5), "word", "must contain only letters a-z, got 'ab1'"),
        ("explain", ("river", 0), "n_words", "must be between 1 and 100, got 0"),
        ("explain", ("river", 2**31 - 1), "n_words", "must be between 1 and 100, got 2147483647"),
        ("guess", (["river", "123"], 5), "words[1]", "has no letters a-z: '123'"),
        ("guess", ([], 5), "words", "must contain at least one hint"),
        ("guess", (["river"], 101), "n_words", "must be between 1 and 100, got 101"),
    ],
)
def test_the_servers_bad_request_carries_the_field_violation(
    hat_server: str, kind: str, method: str, args: tuple[Any, ...], field: str, violation: str
) -> None:
    error = refused(kind, hat_server, method, *args)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details == f"{field}: {violation}"
    assert error.field_violations == ((field, violation),)
    assert str(error) == f"INVALID_ARGUMENT: {field}: {violation}"


def test_other_errors_have_no_field_violations(hat_server: str, kind: str) -> None:
    error = refused(kind, hat_server, "health", "no.such.Service")
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.field_violations == ()


@pytest.fixture
def refusing_address() -> Iterator[str]:
    """127.0.0.1:PORT of a bound socket that does not listen: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_an_unreachable_server_is_unavailable(kind: str, refusing_address: str) -> None:
    error = refused(kind, refusing_address, "explain", "river", client={"retries": False})
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.field_violations == ()


def test_a_closed_client_raises_hat_error(hat_server: str) -> None:
    hat = HatClient(hat_server, timeout=10.0)
    assert hat.explain("river", 2)
    hat.close()
    for call in (
        lambda: hat.explain("river", 2),
        lambda: hat.guess(["river"], 2),
        hat.model_info,
        hat.health,
    ):
        with pytest.raises(HatError, match="closed") as caught:
            call()
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_a_closed_async_client_raises_hat_error(hat_server: str) -> None:
    async def scenario() -> list[HatError]:
        async with AsyncHatClient(hat_server, timeout=10.0) as hat:
            assert await hat.explain("river", 2)
        errors = []
        for call in (
            lambda: hat.explain("river", 2),
            lambda: hat.guess(["river"], 2),
            hat.model_info,
            hat.health,
        ):
            try:
                await call()
            except HatError as error:
                errors.append(error)
        return errors

    errors = asyncio.run(scenario())
    assert [e.code for e in errors] == [grpc.StatusCode.FAILED_PRECONDITION] * 4
    assert all("closed" in e.details for e in errors)


def test_both_clients_give_the_same_answers(hat_server: str) -> None:
    for method, args, kwargs in [
        ("explain", ("River", 4), {}),
        ("explain", ("river",), {}),  # the default n_words
        ("guess", (["guitar", "piano"], 3), {}),
        ("guess", (("lake", "flood"),), {"criteria": "soft"}),
        ("guess", (["lake"], 2), {"criteria": "hard"}),
        ("model_info", (), {}),
        ("health", (), {}),
        ("health", ("hatbot.v1.HatService",), {}),
    ]:
        sync = run("sync", hat_server, method, *args, **kwargs)
        assert sync == run("async", hat_server, method, *args, **kwargs), method
    assert len(run("async", hat_server, "explain", "river")) == 5
