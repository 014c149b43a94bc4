"""nginx as a real L7 gRPC balancer (deploy/nginx/hatbot.conf) over two real replicas.

Chaos (e): under closed-loop load through nginx, one replica is killed (SIGKILL to its whole
process group) or stopped (SIGTERM with --drain-delay), and no call fails. nginx passes a call
on to the other replica when the dead one refuses the connection; a call already sent to the
replica when it died cannot be (nginx streams gRPC request bodies, so it never resends one) and
comes back 502, which the callers, ``HatClient`` with its standard retry policy, see as
UNAVAILABLE and send again within the same deadline.
"""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import urllib.request
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from components import missing
from grpc_status import rpc_status
from nginx import Nginx, find_nginx, free_port, render

from hatbot.client import HatClient, HatError
from hatbot.server.process import WAIT_SECONDS
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

if TYPE_CHECKING:
    from conftest import StartServer

    from hatbot.server.process import ServerProcess

#: Channels that retry nothing themselves, so that what nginx does shows.
NO_RETRIES = [("grpc.enable_retries", 0)]
CALLERS = 4
#: Calls before the replica is killed or stopped, and at least this many after it is gone.
BEFORE, AFTER = 150, 250
#: Every load stops here whatever happens (never reached: a drain takes ~2,000 calls).
MAX_CALLS = 20_000
_LOGGED = re.compile(
    r'" (?P<status>\d{3}) grpc_status=(?P<grpc>\S*) upstream=\[(?P<tried>[^\]]*)\] '
    r"upstream_status=\[(?P<answers>[^\]]*)\]"
)


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    found = find_nginx()
    if found is None:
        missing("install Debian's nginx (apt-get install nginx) to test the nginx balancer")
    return found


def replicas(server_factory: StartServer, model: Path, *extra: str) -> list[ServerProcess]:
    """Two SERVING replicas, one worker each, with a JSON access log and the REST side."""
    started = [
        server_factory(model, "--workers", "1", "--log-format", "json", "--http-port", "0", *extra)
        for _ in range(2)
    ]
    for replica in started:
        replica.wait_serving()
        replica.wait_http()
    return started


@contextmanager
def balancer(binary: str, directory: Path, backends: list[ServerProcess]) -> Iterator[Balancer]:
    grpc_port, http_port = free_port(), free_port()

    def configure(down: Collection[str] = ()) -> Path:
        return render(
            directory,
            grpc_port=grpc_port,
            http_port=http_port,
            grpc_replicas=[replica.wait_listening() for replica in backends],
            http_replicas=[replica.wait_http().removeprefix("http://") for replica in backends],
            down=down,
        )

    with Nginx(binary, configure()) as nginx:
        nginx.wait_listening(grpc_port, http_port)
        yield Balancer(nginx, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}", configure)


@dataclass
class Balancer:
    nginx: Nginx
    address: str
    http_url: str
    configure: Callable[[Collection[str]], Path]

    def take_out(self, replica: ServerProcess) -> None:
        """Mark ``replica`` down in both upstreams and reload nginx."""
        self.configure({replica.wait_listening(), replica.wait_http().removeprefix("http://")})
        self.nginx.reload()

    def calls(self, log: str = "hatbot-grpc.access.log") -> list[Logged]:
        """Every call nginx logged, in order."""
        return [
            Logged(
                int(match["status"]),
                match["grpc"].strip("-"),
                re.split(", | : ", match["tried"]),
                re.split(", | : ", match["answers"]),
            )
            for match in map(_LOGGED.search, self.nginx.log(log).splitlines())
            if match
        ]


@dataclass(frozen=True)
class Logged:
    """A call in nginx's access log: HTTP status, gRPC status ("" when the body carried it),
    the replicas tried in order and what each answered (HTTP status)."""

    status: int
    grpc_status: str
    tried: list[str]
    answers: list[str]


def answered(replica: ServerProcess, method: str = "/hatbot.v1.HatService/Guess") -> int:
    """How many calls of ``method`` the replica's access log records as answered OK."""
    count = 0
    for line in list(replica.lines):
        if line.startswith("{"):
            record = json.loads(line)
            count += record.get("method") == method and record.get("code") == "OK"
    return count


@dataclass
class Load:
    """Closed-loop Guess callers through ``address``, each a ``HatClient`` (its own connection,
    1 s deadline, UNAVAILABLE retried); they stop at ``stop`` or after :data:`MAX_CALLS` calls."""

    address: str
    words: list[str]
    done: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _progress: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._progress = threading.Condition(self._lock)

    def _call(self, seed: int) -> None:
        rng = random.Random(seed)
        with HatClient(self.address, timeout=1.0) as hat:
            while not self.stop.is_set():
                try:
                    hat.guess(rng.sample(self.words, 2), 3)
                    failure = None
                except HatError as error:
                    failure = f"{error.code.name}: {error.details}"
                with self._progress:
                    self.done += 1
                    if failure:
                        self.failures.append(f"call {self.done}: {failure}")
                    if self.done >= MAX_CALLS:
                        self.stop.set()
                    self._progress.notify_all()

    def wait_for(self, calls: int) -> int:
        """Wait until ``calls`` calls have ended (or the load stopped); how many have."""
        with self._progress:
            self._progress.wait_for(lambda: self.done >= calls or self.stop.is_set(), WAIT_SECONDS)
            return self.done

    @contextmanager
    def running(self) -> Iterator[Load]:
        callers = [threading.Thread(target=self._call, args=(i,)) for i in range(CALLERS)]
        for caller in callers:
            caller.start()
        try:
            yield self
        finally:
            self.stop.set()
            for caller in callers:
                caller.join(WAIT_SECONDS)


def test_calls_through_nginx_reach_both_replicas(
    nginx_binary: str,
    tiny_model: Path,
    topics: dict[str, list[str]],
    server_factory: StartServer,
    tmp_path: Path,
) -> None:
    backends = replicas(server_factory, tiny_model)
    with balancer(nginx_binary, tmp_path, backends) as lb:
        with grpc.insecure_channel(lb.address, options=NO_RETRIES) as channel:
            stub = hatbot_pb2_grpc.HatServiceStub(channel)
            for word in topics["water"] * 2:
                answer = stub.Guess(hatbot_pb2.GuessRequest(words=[word], n_words=3), timeout=1)
                assert answer.words
                assert answer.model_version
            # An error is the replica's, passed through with its rich status, and not retried.
            with pytest.raises(grpc.RpcError) as refused:
                stub.Explain(hatbot_pb2.ExplainRequest(word="ab1", n_words=3), timeout=1)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert (refused.value.details() or "").startswith("word: ")
            status = rpc_status.from_call(refused.value)  # type: ignore[arg-type]
            assert status is not None
            assert status.details, "the google.rpc.BadRequest is lost"
        for word in topics["music"][:10]:
            with urllib.request.urlopen(
                f"{lb.http_url}/explain?word={word}&n_words=3", timeout=5
            ) as reply:
                assert reply.status == 200
                assert isinstance(json.loads(reply.read()), list)
        grpc_calls = lb.calls()
        http_calls = lb.calls("hatbot-http.access.log")
    calls = len(topics["water"]) * 2
    per_replica = [answered(replica) for replica in backends]
    assert sum(per_replica) == calls, per_replica
    assert min(per_replica) > 0, per_replica
    addresses = {replica.wait_listening() for replica in backends}
    assert {call.tried[-1] for call in grpc_calls} == addresses
    assert all(call.status == 200 and len(call.tried) == 1 for call in grpc_calls), grpc_calls
    assert len({call.tried[-1] for call in http_calls}) == 2, http_calls
    print(f"through nginx: {calls} Guess calls answered by the replicas {per_replica}")


def chaos(lb: Balancer, words: list[str], strike: Callable[[], object]) -> tuple[Load, int, int]:
    """Load through ``lb``; after :data:`BEFORE` calls ``strike()``, then :data:`AFTER` more
    calls. The load, and the number of calls ended when the strike began and when it ended."""
    load = Load(lb.address, words)
    with load.running():
        struck_at = load.wait_for(BEFORE)
        strike()
        over_at = load.done
        load.wait_for(over_at + AFTER)
    assert load.done < MAX_CALLS, "the load hit its bound"
    return load, struck_at, over_at


def what_nginx_did(lb: Balancer, victim: str) -> tuple[int, int]:
    """Calls nginx passed on from ``victim`` to the other replica, and calls it answered
    UNAVAILABLE itself because ``victim`` died with them (each sent again by the caller)."""
    calls = lb.calls()
    passed_on = [call for call in calls if len(call.tried) > 1]
    assert all(call.tried[:-1] == [victim] and call.status == 200 for call in passed_on)
    unplaced = [call for call in calls if call.status != 200]
    assert all(
        (call.status, call.grpc_status, call.tried, call.answers) == (204, "14", [victim], ["502"])
        for call in unplaced
    ), unplaced
    return len(passed_on), len(unplaced)


def test_a_replica_killed_under_load_through_nginx_fails_no_call(
    nginx_binary: str,
    tiny_model: Path,
    topics: dict[str, list[str]],
    server_factory: StartServer,
    tmp_path: Path,
) -> None:
    """Chaos (e): kill -9 one replica (its whole process group) under load: 0 failed calls."""
    victim, survivor = replicas(server_factory, tiny_model)
    victim_address = victim.wait_listening()
    words = [word for topic in topics.values() for word in topic]
    with balancer(nginx_binary, tmp_path, [victim, survivor]) as lb:
        survivor_before = answered(survivor)
        load, killed_at, _ = chaos(lb, words, victim.kill)
        passed_on, resent = what_nginx_did(lb, victim_address)
    assert load.failures == [], load.failures[:10]
    # nginx learns of the death only by trying the dead replica, once at least.
    assert passed_on + resent > 0
    assert answered(survivor) - survivor_before >= AFTER
    print(
        f"nginx chaos, kill -9: {load.done} calls, {len(load.failures)} failed; replica "
        f"{victim_address} (pid {victim.proc.pid} and its worker) killed after call {killed_at}; "
        f"nginx passed {passed_on} call(s) on to the other replica, {resent} in flight on the "
        "killed one came back UNAVAILABLE from nginx and were sent again by the client"
    )


def test_a_replica_taken_out_and_stopped_under_load_through_nginx_fails_no_call(
    nginx_binary: str,
    tiny_model: Path,
    topics: dict[str, list[str]],
    server_factory: StartServer,
    tmp_path: Path,
) -> None:
    """A planned stop under load through nginx: mark the replica down and reload nginx, then
    SIGTERM it (--drain-delay): 0 failed calls, no call reaches it after the reload, and it
    exits 0. (SIGTERM alone is not enough behind nginx, which does not watch health: a call
    that reaches the replica as its drain delay ends is CANCELLED by the gRPC server's stop.)"""
    victim, survivor = replicas(server_factory, tiny_model, "--drain-delay", "0.5", "--grace", "2")
    victim_address = victim.wait_listening()
    words = [word for topic in topics.values() for word in topic]
    reloaded: dict[str, int] = {}

    def stop() -> int:
        lb.take_out(victim)
        reloaded["calls"] = answered(victim)
        victim.proc.send_signal(signal.SIGTERM)
        return victim.proc.wait(WAIT_SECONDS)

    with balancer(nginx_binary, tmp_path, [victim, survivor]) as lb:
        load, stopped_at, exited_at = chaos(lb, words, stop)
        calls = lb.calls()
    assert load.failures == [], load.failures[:10]
    assert victim.proc.returncode == 0, victim.log
    assert answered(victim) == reloaded["calls"], "a call reached the replica after the reload"
    assert all(call.status == 200 and len(call.tried) == 1 for call in calls)
    print(
        f"nginx, planned stop: {load.done} calls, {len(load.failures)} failed; replica "
        f"{victim_address} marked down (nginx reloaded) and sent SIGTERM after call "
        f"{stopped_at}, exited 0 after call {exited_at}"
    )
