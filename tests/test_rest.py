"""The REST protocol: a real ``hatbot serve --http-port 0`` next to gRPC, and the HTTP front
end in process for the states a subprocess cannot hold still (loading, draining)."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import StartServer, running_server

from hatbot.client import HatClient, HatError
from hatbot.rules import Criteria
from hatbot.server.model import WordModel
from hatbot.server.process import WAIT_SECONDS, ServerProcess
from hatbot.server.rest import HttpFrontEnd
from hatbot.server.service import Answerer, DeadlinePassedError


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: Any
    headers: http.client.HTTPMessage


def request(port: int, path: str, method: str = "GET") -> Reply:
    """One request on a fresh connection; the JSON body decoded."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_SECONDS)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        raw = response.read()
        return Reply(
            response.status, response.getheader("Content-Type", ""), json.loads(raw), response.msg
        )
    finally:
        conn.close()


def reuse(conn: http.client.HTTPConnection, path: str) -> http.client.HTTPResponse:
    """A GET on an open (keep-alive) connection; the response, already read."""
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response


def query(path: str, **params: str | int | Sequence[str]) -> str:
    return f"{path}?{urlencode(params, doseq=True)}"


def wait_http_port(server: ServerProcess, timeout: float = WAIT_SECONDS) -> int:
    """The port of the server's REST side."""
    return int(server.wait_http(timeout).rsplit(":", 1)[1])


def wait_http_ok(port: int, timeout: float = WAIT_SECONDS) -> None:
    """Poll ``GET /`` until it is 200."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = request(port, "/").status
        except OSError as error:
            last = error
        if last == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"GET / never became 200 (last: {last!r})")


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_SECONDS).close()
    except ConnectionRefusedError:
        return True
    return False


def wait_logged(caplog: pytest.LogCaptureFixture, text: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in record.getMessage() for record in caplog.records):
            return
        time.sleep(0.02)
    raise AssertionError(f"never logged {text!r}")


@dataclass(frozen=True)
class Servers:
    grpc_address: str
    http_port: int


@pytest.fixture(scope="module")
def servers(tiny_model: Path) -> Iterator[Servers]:
    """One ``hatbot serve`` answering gRPC and HTTP, ready for the whole module."""
    with running_server(tiny_model, "--http-port", "0", "--grace", "1") as server:
        port = wait_http_port(server)
        wait_http_ok(port)
        yield Servers(server.wait_listening(), port)


@pytest.fixture(scope="module")
def hat(servers: Servers) -> Iterator[HatClient]:
    with HatClient(servers.grpc_address, timeout=WAIT_SECONDS) as client:
        yield client


def test_root_reports_the_loaded_model(servers: Servers, hat: HatClient) -> None:
    reply = request(servers.http_port, "/")
    assert reply.status == 200
    assert reply.content_type.startswith("application/json")
    info = hat.model_info()
    assert reply.body == {"status": "ok", "model_version": info.version, "strategy": info.strategy}


@pytest.mark.parametrize(
    ("word", "n_words"), [("river", 5), ("piano", 3), ("computer", 1), ("Kitchen", 10), ("zzz", 5)]
)
def test_explain_matches_grpc(servers: Servers, hat: HatClient, word: str, n_words: int) -> None:
    reply = request(servers.http_port, query("/explain", word=word, n_words=n_words))
    assert reply.status == 200
    assert reply.content_type.startswith("application/json")
    assert isinstance(reply.body, list)
    assert all(isinstance(w, str) for w in reply.body)
    assert reply.body == hat.explain(word, n_words)


def test_explain_answers_a_known_word(servers: Servers) -> None:
    # Guards the comparisons above against both sides answering [] for everything.
    reply = request(servers.http_port, query("/explain", word="river", n_words=5))
    assert reply.body


@pytest.mark.parametrize(
    ("words", "n_words"),
    [(["river"], 5), (["guitar", "drums"], 3), (["River!", "boat"], 2), (["zzz", "bread"], 5)],
)
def test_guess_matches_grpc(
    servers: Servers, hat: HatClient, words: list[str], n_words: int
) -> None:
    reply = request(servers.http_port, query("/guess", words=words, n_words=n_words))
    assert reply.status == 200
    assert reply.content_type.startswith("application/json")
    assert reply.body
    assert all(isinstance(w, str) for w in reply.body)
    assert reply.body == hat.guess(words, n_words)


BAD_REQUESTS = [
    ("/explain", "word"),
    ("/explain?n_words=5", "word"),
    ("/explain?word=&n_words=5", "word"),
    ("/explain?word=c4t&n_words=5", "word"),
    ("/explain?word=%C3%A9t%C3%A9&n_words=5", "word"),
    ("/explain?word=%FF&n_words=5", "word"),
    (f"/explain?word={'a' * 65}&n_words=5", "word"),
    ("/explain?word=cat&word=dog&n_words=5", "word"),
    ("/explain?word=cat", "n_words"),
    ("/explain?word=cat&n_words=", "n_words"),
    ("/explain?word=cat&n_words=abc", "n_words"),
    ("/explain?word=cat&n_words=1.5", "n_words"),
    ("/explain?word=cat&n_words=0", "n_words"),
    ("/explain?word=cat&n_words=-3", "n_words"),
    ("/explain?word=cat&n_words=101", "n_words"),
    (f"/explain?word=cat&n_words={'9' * 40}", "n_words"),
    ("/explain?word=cat&n_words=5&n_words=6", "n_words"),
    ("/guess", "n_words"),
    ("/guess?n_words=5", "words"),
    ("/guess?words=&n_words=5", "words[0]"),
    ("/guess?words=river&words=123&n_words=5", "words[1]"),
    (query("/guess", words=["river"] * 51, n_words=5), "words"),
    ("/guess?words=river", "n_words"),
    ("/guess?words=river&n_words=x", "n_words"),
    ("/guess?words=river&n_words=500", "n_words"),
]


@pytest.mark.parametrize(("path", "parameter"), BAD_REQUESTS)
def test_bad_parameter_is_400_naming_it(servers: Servers, path: str, parameter: str) -> None:
    reply = request(servers.http_port, path)
    assert reply.status == 400, reply.body
    assert reply.content_type.startswith("application/json")
    assert set(reply.body) == {"error"}
    assert reply.body["error"].startswith(f"{parameter}: "), reply.body


@pytest.mark.parametrize(("word", "n_words"), [("c4t", 5), ("river", 0), ("river", 101), ("", 5)])
def test_range_errors_read_as_over_grpc(
    servers: Servers, hat: HatClient, word: str, n_words: int
) -> None:
    reply = request(servers.http_port, query("/explain", word=word, n_words=n_words))
    with pytest.raises(HatError) as error:
        hat.explain(word, n_words)
    assert reply.status == 400
    assert reply.body["error"] == error.value.details


@pytest.mark.parametrize("path", ["/nope", "/explain/river", "/guess/", "/v1/explain"])
def test_unknown_path_is_404(servers: Servers, path: str) -> None:
    reply = request(servers.http_port, path)
    assert reply.status == 404
    assert reply.content_type.startswith("application/json")
    assert path in reply.body["error"]


def test_other_methods_are_405(servers: Servers) -> None:
    reply = request(servers.http_port, "/explain?word=river&n_words=5", method="POST")
    assert reply.status == 405
    assert "error" in reply.body
    assert "GET" in reply.headers["Allow"]


def test_keep_alive_connection_serves_many_requests(servers: Servers) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", servers.http_port, timeout=WAIT_SECONDS)
    try:
        for n in (1, 2, 3):
            conn.request("GET", query("/explain", word="river", n_words=n))
            response = conn.getresponse()
            assert response.status == 200
            assert len(json.loads(response.read())) == n
    finally:
        conn.close()


def test_concurrent_requests_all_succeed(servers: Servers) -> None:
    paths = [
        query("/explain", word=word, n_words=n)
        for word in ("river", "piano", "bread", "computer", "guitar")
        for n in (3, 5)
    ] + [
        query("/guess", words=words, n_words=n)
        for words in (["river"], ["guitar", "drums"], ["oven", "flour"], ["disk", "memory", "chip"])
        for n in (2, 4)
    ]
    assert len(paths) >= 18
    expected = {path: request(servers.http_port, path).body for path in paths}
    # No more at once than one worker admits (--max-in-flight, 8 by default): this checks the
    # answers under concurrency, not shedding (with 20 at once a slow machine got a 429).
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda path: request(servers.http_port, path), paths * 2))
    assert [r.status for r in replies] == [200] * len(replies)
    assert [r.body for r in replies] == [expected[path] for path in paths * 2]


def test_sigterm_stops_http_and_exits_0(tiny_model: Path, server_factory: StartServer) -> None:
    server = server_factory(tiny_model, "--http-port", "0", "--grace", "1")
    server.wait_serving()
    port = wait_http_port(server)
    wait_http_ok(port)
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_SECONDS)
    assert reuse(idle, "/").status == 200

    assert server.terminate() == 0, server.log
    assert "stopped" in server.log
    with pytest.raises((OSError, http.client.HTTPException)):
        reuse(idle, "/")
    idle.close()
    assert refuses_connections(port)


# In process: the states between start and SERVING and between SIGTERM and exit.


class BlockingStrategy:
    """Explains with a constant after ``release`` is set; ``entered`` tells a call is running."""

    name = "blocking"
    answers_live = False

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def warm_up(self) -> None:
        pass

    def explain(self, word: str, n_words: int) -> list[str]:
        self.entered.set()
        self.release.wait(WAIT_SECONDS)
        return ["held"]

    def guess(self, hints: Sequence[str], n_words: int, criteria: Criteria = "hard") -> list[str]:
        return []


@pytest.fixture
def blocking(tiny_model: Path) -> Iterator[tuple[BlockingStrategy, Answerer]]:
    strategy = BlockingStrategy()
    yield strategy, Answerer(WordModel(tiny_model), strategy)
    strategy.release.set()  # never leave an executor thread waiting


class Background:
    """Runs ``function`` in a thread; :meth:`result` joins (bounded) and returns or raises."""

    def __init__(self, function: Any, *args: Any) -> None:
        self._outcome: list[Any] = []
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self._thread.start()

    def _run(self, function: Any, *args: Any) -> None:
        try:
            self._outcome.append(("ok", function(*args)))
        except BaseException as error:
            self._outcome.append(("error", error))

    def done(self, timeout: float = WAIT_SECONDS) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> Any:
        assert self.done(), "background call did not finish"
        kind, value = self._outcome[0]
        if kind == "error":
            raise value
        return value


def test_loading_is_503() -> None:
    front = HttpFrontEnd(lambda: None, "127.0.0.1", 0)
    port = front.start()
    try:
        root = request(port, "/")
        assert (root.status, root.body) == (503, {"status": "loading"})
        for path in ("/explain?word=river&n_words=5", "/guess?words=river&n_words=5", "/guess"):
            reply = request(port, path)
            assert reply.status == 503
            assert reply.content_type.startswith("application/json")
            assert "loading" in reply.body["error"]
        assert request(port, "/nope").status == 404
    finally:
        front.stop(1)
    assert refuses_connections(port)


def test_answerer_attached_later_is_used(blocking: tuple[BlockingStrategy, Answerer]) -> None:
    strategy, answerer = blocking
    strategy.release.set()
    current: list[Answerer] = []
    front = HttpFrontEnd(lambda: current[0] if current else None, "127.0.0.1", 0)
    port = front.start()
    try:
        assert request(port, "/").status == 503
        current.append(answerer)
        assert request(port, "/").body["strategy"] == "blocking"
        assert request(port, "/explain?word=river&n_words=5").body == ["held"]
    finally:
        front.stop(1)


def test_a_call_whose_deadline_passes_while_it_waits_its_turn_is_not_computed(
    blocking: tuple[BlockingStrategy, Answerer],
) -> None:
    strategy, answerer = blocking
    computing = Background(answerer.explain, "river", 5)
    assert strategy.entered.wait(WAIT_SECONDS)
    strategy.entered.clear()
    deadline = time.monotonic() + 0.05
    waiting = Background(answerer.explain, "lake", 5, deadline)
    while time.monotonic() < deadline:
        time.sleep(0.01)
    strategy.release.set()
    assert computing.result() == ["held"]
    with pytest.raises(DeadlinePassedError):
        waiting.result()
    assert not strategy.entered.is_set()
    assert answerer.explain("lake", 5, time.monotonic() + WAIT_SECONDS) == ["held"]


def test_stop_refuses_new_connections_and_finishes_in_flight(
    blocking: tuple[BlockingStrategy, Answerer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hatbot.server.rest")
    strategy, answerer = blocking
    front = HttpFrontEnd(lambda: answerer, "127.0.0.1", 0)
    port = front.start()
    in_flight = Background(request, port, "/explain?word=river&n_words=5")
    assert strategy.entered.wait(WAIT_SECONDS)
    stopping = Background(front.stop, WAIT_SECONDS)

    # Probing only once the socket is closed: a probe racing the close would hit CPython
    # gh-109564 (see HttpFrontEnd._stop).
    wait_logged(caplog, "http stopped listening")
    assert refuses_connections(port)
    assert not in_flight.done(timeout=0)
    strategy.release.set()
    reply = in_flight.result()
    assert (reply.status, reply.body) == (200, ["held"])
    stopping.result()


def test_stop_cancels_requests_still_running_after_grace(
    blocking: tuple[BlockingStrategy, Answerer],
) -> None:
    strategy, answerer = blocking
    front = HttpFrontEnd(lambda: answerer, "127.0.0.1", 0)
    port = front.start()
    in_flight = Background(request, port, "/explain?word=river&n_words=5")
    assert strategy.entered.wait(WAIT_SECONDS)

    front.stop(0.1)  # returns although the answer is still blocked
    assert not strategy.release.is_set()
    with pytest.raises((OSError, http.client.HTTPException)):
        in_flight.result()
    assert refuses_connections(port)


def test_stop_without_start_is_a_no_op() -> None:
    HttpFrontEnd(lambda: None, "127.0.0.1", 0).stop(1)


def test_port_in_use_raises_and_leaves_nothing_running() -> None:
    first = HttpFrontEnd(lambda: None, "127.0.0.1", 0)
    port = first.start()
    try:
        second = HttpFrontEnd(lambda: None, "127.0.0.1", port)
        with pytest.raises(OSError, match="already in use"):
            second.start()
        second.stop(1)
        assert request(port, "/").status == 503
    finally:
        first.stop(1)
