"""Player adapters: the original REST protocol, gRPC through HatClient, Python objects."""

from __future__ import annotations

import json
import sys
import threading
import types
import urllib.error
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import grpc
import pytest

from hatbot.game import (
    GameConfig,
    GrpcPlayer,
    MalformedAnswerError,
    PlayerTimeoutError,
    RestPlayer,
    make_player,
    play_turn,
)

SHORT = 0.2  # the deadline of calls to a player that may hang


class FakeRestPlayer(BaseHTTPRequestHandler):
    """The original REST protocol, answering according to ``mode``."""

    mode: ClassVar[str] = "ok"
    requests: ClassVar[list[tuple[str, dict[str, list[str]]]]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        self.requests.append((url.path, query))
        if self.mode == "slow":
            self.release.wait(10)
        if self.mode == "fail":
            self.send_error(500, "broken")
            return
        if url.path == "/explain":
            answer: Any = ["bark", "puppy", "leash"][: int(query["n_words"][0])]
        else:
            answer = ["dog"] if "puppy" in query.get("words", []) else ["cat"]
        body = {
            "ok": json.dumps(answer),
            "slow": json.dumps(answer),
            "not json": "[dog",
            "not a list": json.dumps({"words": answer}),
        }[self.mode].encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def rest_url() -> Iterator[str]:
    FakeRestPlayer.mode = "ok"
    FakeRestPlayer.requests = []
    FakeRestPlayer.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRestPlayer)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        FakeRestPlayer.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def test_rest_explain_sends_word_and_n_words(rest_url: str) -> None:
    assert RestPlayer(rest_url).explain("dog", 2) == ["bark", "puppy"]
    assert FakeRestPlayer.requests == [("/explain", {"word": ["dog"], "n_words": ["2"]})]


def test_rest_guess_repeats_the_words_parameter(rest_url: str) -> None:
    assert RestPlayer(rest_url + "/").guess(["bark", "puppy"], 4) == ["dog"]
    assert FakeRestPlayer.requests == [("/guess", {"words": ["bark", "puppy"], "n_words": ["4"]})]


def test_rest_words_are_url_encoded(rest_url: str) -> None:
    RestPlayer(rest_url).guess(["a&b=c", "d e"], 1)
    assert FakeRestPlayer.requests[0][1]["words"] == ["a&b=c", "d e"]


@pytest.mark.parametrize("mode", ["not json", "not a list"])
def test_rest_junk_is_a_malformed_answer(rest_url: str, mode: str) -> None:
    FakeRestPlayer.mode = mode
    with pytest.raises(MalformedAnswerError):
        RestPlayer(rest_url).explain("dog", 3)


def test_rest_http_errors_are_raised(rest_url: str) -> None:
    FakeRestPlayer.mode = "fail"
    with pytest.raises(urllib.error.HTTPError):
        RestPlayer(rest_url).explain("dog", 3)


def test_rest_slow_answers_are_timeouts(rest_url: str) -> None:
    FakeRestPlayer.mode = "slow"
    with pytest.raises(PlayerTimeoutError):
        RestPlayer(rest_url, timeout=SHORT).explain("dog", 3)


def test_rest_unreachable_player_is_an_error() -> None:
    with pytest.raises(urllib.error.URLError):
        RestPlayer("http://127.0.0.1:9", timeout=SHORT).guess(["bark"], 1)


def test_rest_players_play_a_turn(rest_url: str) -> None:
    players = {"ex": RestPlayer(rest_url), "g": RestPlayer(rest_url)}
    turn, calls = play_turn(players, "ex", "dog", GameConfig(n_explain=3))
    assert turn.hints == ["bark", "puppy", "leash"]
    assert turn.guessed_at == {"g": 2}
    assert [c.status for c in calls] == ["ok"] * 3


@pytest.mark.parametrize(("mode", "status"), [("slow", "timeout"), ("fail", "error"),
                                              ("not json", "malformed")])  # fmt: skip
def test_rest_failures_are_recorded_with_their_status(
    rest_url: str, mode: str, status: str
) -> None:
    FakeRestPlayer.mode = mode
    players = {"ex": RestPlayer(rest_url, SHORT), "g": RestPlayer(rest_url, SHORT)}
    turn, calls = play_turn(players, "ex", "dog", GameConfig(timeout=SHORT))
    assert [(c.status, c.answer) for c in calls] == [(status, [])]
    assert turn.hints == []


class FakeHatError(Exception):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(f"failed: {code.name}")
        self.code = code


class FakeHatClient:
    """Stands in for hatbot.client.HatClient, so these tests don't depend on a server."""

    instances: ClassVar[list[FakeHatClient]] = []
    failure: ClassVar[grpc.StatusCode | None] = None

    def __init__(self, target: str, timeout: float = 1.0, tls: object = None) -> None:
        self.target, self.timeout, self.closed = target, timeout, False
        self.tls = tls
        self.criteria: str | None = None
        self.instances.append(self)

    def explain(self, word: str, n_words: int) -> list[str]:
        if self.failure is not None:
            raise FakeHatError(self.failure)
        return [f"{word}-hint"] * n_words

    def guess(self, words: list[str], n_words: int, criteria: str | None = None) -> list[str]:
        if self.failure is not None:
            raise FakeHatError(self.failure)
        self.criteria = criteria
        return words[:n_words]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> type[FakeHatClient]:
    module = types.ModuleType("hatbot.client")
    module.HatClient = FakeHatClient  # type: ignore[attr-defined]
    module.HatError = FakeHatError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hatbot.client", module)
    monkeypatch.setattr(FakeHatClient, "instances", [])
    monkeypatch.setattr(FakeHatClient, "failure", None)
    return FakeHatClient


def test_grpc_player_connects_lazily_once_and_closes(fake_client: type[FakeHatClient]) -> None:
    player = GrpcPlayer("localhost:50051", timeout=0.5)
    assert fake_client.instances == []
    assert player.explain("dog", 2) == ["dog-hint", "dog-hint"]
    assert player.guess(["a", "b", "c"], 2) == ["a", "b"]
    [client] = fake_client.instances
    assert (client.target, client.timeout, client.closed) == ("localhost:50051", 0.5, False)
    player.close()
    assert client.closed


def test_grpc_player_tells_the_server_the_criteria(fake_client: type[FakeHatClient]) -> None:
    GrpcPlayer("localhost:1", criteria="soft").guess(["bark"], 1)
    GrpcPlayer("localhost:2").guess(["bark"], 1)
    assert [client.criteria for client in fake_client.instances] == ["soft", None]


def test_grpc_deadline_exceeded_is_a_timeout(fake_client: type[FakeHatClient]) -> None:
    fake_client.failure = grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(PlayerTimeoutError):
        GrpcPlayer("localhost:1").guess(["bark"], 1)


def test_grpc_other_failures_are_errors(fake_client: type[FakeHatClient]) -> None:
    fake_client.failure = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(FakeHatError):
        GrpcPlayer("localhost:1").explain("dog", 1)
    players = {"ex": GrpcPlayer("localhost:1"), "g": GrpcPlayer("localhost:2")}
    _, calls = play_turn(players, "ex", "dog", GameConfig())
    assert (calls[0].status, calls[0].answer) == ("error", [])
    assert "UNAVAILABLE" in calls[0].detail


@pytest.mark.parametrize("target", ["http://127.0.0.1:8000", "https://bots.example/hat"])
def test_urls_make_rest_players(target: str) -> None:
    player = make_player(target, timeout=2.5)
    assert isinstance(player, RestPlayer)
    assert (player.url, player.timeout) == (target, 2.5)


@pytest.mark.parametrize(
    "target", ["localhost:50051", "127.0.0.1:50051", "dns:///bots:443", "unix:/tmp/hat.sock"]
)
def test_other_targets_make_grpc_players(target: str) -> None:
    player = make_player(target, timeout=2.5)
    assert isinstance(player, GrpcPlayer)
    assert (player.target, player.timeout) == (target, 2.5)


@pytest.fixture
def bots_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "hat_test_bots.py").write_text(
        "class Bot:\n"
        "    def explain(self, word, n_words):\n"
        "        return ['bark'] * n_words\n"
        "    def guess(self, words, n_words):\n"
        "        return ['dog']\n"
        "bot = Bot()\n"
        "not_a_player = 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "hat_test_bots"


def test_py_targets_load_objects_and_instantiate_classes(bots_module: str) -> None:
    module = __import__(bots_module)
    assert make_player(f"py:{bots_module}:bot") is module.bot
    made = make_player(f"py:{bots_module}:Bot")
    assert isinstance(made, module.Bot)
    assert made.guess(["bark"], 1) == ["dog"]


@pytest.mark.parametrize(
    ("attr", "error"),
    [("missing", AttributeError), ("not_a_player", TypeError)],
)
def test_py_targets_that_are_no_players_are_refused(
    bots_module: str, attr: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        make_player(f"py:{bots_module}:{attr}")


def test_py_targets_in_missing_modules_are_refused() -> None:
    with pytest.raises(ImportError):
        make_player("py:no_such_module_for_hat:bot")
