"""Client-side balancing over real replicas: round robin, health checking, retries, and the
server's connection age and keepalive, on ``hatbot serve`` processes with the tiny model.

Which replica answered a call is read from its ``--log-format json`` access log.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest
from certs import Certificates
from conftest import StartServer

from hatbot.client import AsyncHatClient, HatClient, HatError
from hatbot.server.health import NOT_SERVING
from hatbot.server.process import WAIT_SECONDS, ServerProcess, health_status
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

EXPLAIN = "/hatbot.v1.HatService/Explain"
REPLICA = ("--workers", "1", "--log-format", "json", "--grace", "1")


def access_lines(server: ServerProcess, method: str = EXPLAIN) -> list[dict[str, object]]:
    """The access-log lines of ``method`` calls the server logged so far."""
    lines = []
    for line in list(server.lines):
        if '"hatbot.access"' in line:
            record = json.loads(line)
            if record["method"] == method:
                lines.append(record)
    return lines


def answered(servers: list[ServerProcess], total: int) -> list[int]:
    """The Explain calls each server logged, once they add up to ``total`` (the log lines
    reach the test through a reader thread)."""
    deadline = time.monotonic() + WAIT_SECONDS
    counts = [len(access_lines(server)) for server in servers]
    while sum(counts) < total and time.monotonic() < deadline:
        time.sleep(0.02)
        counts = [len(access_lines(server)) for server in servers]
    return counts


def start_replicas(
    server_factory: StartServer, model: Path, *extra: str, count: int = 2, **options: object
) -> list[ServerProcess]:
    replicas = [server_factory(model, *REPLICA, *extra, **options) for _ in range(count)]
    for replica in replicas:
        replica.wait_serving()
    return replicas


@pytest.fixture
def replicas(tiny_model: Path, server_factory: StartServer) -> list[ServerProcess]:
    """Two SERVING replicas that keep answering 20 s after SIGTERM (killed at teardown)."""
    return start_replicas(server_factory, tiny_model, "--drain-delay", "20")


def addresses(servers: list[ServerProcess]) -> list[str]:
    return [server.wait_listening() for server in servers]


def warm(hat: HatClient, servers: list[ServerProcess]) -> int:
    """Call until every server has answered once (so every subchannel is READY); the calls."""
    for calls in range(1, 201):
        hat.explain("river", 2)
        if all(access_lines(server) for server in servers):
            return calls
        time.sleep(0.01)
    raise AssertionError("a replica never got a call")


def test_calls_reach_every_replica_in_turn(replicas: list[ServerProcess]) -> None:
    with HatClient(addresses(replicas)) as hat:
        done = warm(hat, replicas)
        before = answered(replicas, done)
        for _ in range(20):
            assert len(hat.explain("river", 3)) == 3
    after = answered(replicas, done + 20)
    assert [a - b for a, b in zip(after, before, strict=True)] == [10, 10]


def test_a_comma_separated_target_and_the_async_client_balance_too(
    replicas: list[ServerProcess],
) -> None:
    async def explain_until_both_answered() -> int:
        async with AsyncHatClient(",".join(addresses(replicas))) as hat:
            for calls in range(1, 201):
                assert len(await hat.explain("river", 3)) == 3
                if all(access_lines(replica) for replica in replicas):
                    return calls
                await asyncio.sleep(0.01)
        raise AssertionError("a replica never got a call")

    calls = asyncio.run(explain_until_both_answered())
    assert sum(answered(replicas, calls)) == calls


def test_a_draining_replica_gets_no_new_calls_yet_still_answers(
    replicas: list[ServerProcess],
) -> None:
    draining = replicas[0]
    with HatClient(addresses(replicas)) as hat:
        done = warm(hat, replicas)
        draining.proc.send_signal(signal.SIGTERM)
        address = draining.wait_listening()
        for _ in range(200):
            if health_status(address, "hatbot.v1.HatService") == NOT_SERVING:
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"never NOT_SERVING; stderr:\n{draining.log}")
        # The NOT_SERVING Watch update reaches the client's balancer as asynchronously as this
        # Check's answer reached the test; give it a moment.
        time.sleep(0.5)
        before = answered(replicas, done)
        for _ in range(40):
            assert len(hat.explain("river", 3)) == 3
        after = answered(replicas, sum(before) + 40)
    assert after[0] == before[0], "the draining replica got calls"
    assert after[1] == before[1] + 40
    # It still answers whoever calls it directly, for the drain delay.
    with HatClient(address) as direct:
        assert len(direct.explain("river", 3)) == 3
    assert health_status(address) == NOT_SERVING


def test_a_balanced_health_check_needs_a_serving_replica(
    tiny_model: Path, server_factory: StartServer
) -> None:
    """Over a balanced channel (here a dns:/// name of one replica) health() answers from a
    SERVING replica; when the only one drains, there is none: UNAVAILABLE."""
    (server,) = start_replicas(server_factory, tiny_model, "--drain-delay", "20", count=1)
    port = server.wait_listening().rpartition(":")[2]
    with HatClient(f"dns:///localhost:{port}", timeout=2.0) as hat:
        assert hat.health("hatbot.v1.HatService") == "SERVING"
        server.proc.send_signal(signal.SIGTERM)
        server.wait_health(NOT_SERVING, "hatbot.v1.HatService")
        failure = None
        for _ in range(100):  # until the client's Watch stream has the news
            try:
                hat.health()
            except HatError as error:
                failure = error
                break
            time.sleep(0.05)
        assert failure is not None, "the balanced client still found a SERVING replica"
        assert failure.code == grpc.StatusCode.UNAVAILABLE
    with HatClient(server.wait_listening()) as direct:
        assert direct.health() == "NOT_SERVING"


def test_a_killed_replica_costs_no_failed_calls(replicas: list[ServerProcess]) -> None:
    """kill -9 of one replica (its whole process group) while 4 callers keep calling."""
    doomed, survivor = replicas
    calls, failures, lock = [0], [], threading.Lock()
    killed = threading.Event()

    def caller(hat: HatClient) -> None:
        while True:
            with lock:
                if calls[0] >= 600:
                    return
                calls[0] += 1
            try:
                hat.explain("river", 3)
            except HatError as error:
                failures.append(f"{'after' if killed.is_set() else 'before'} the kill: {error}")

    with HatClient(addresses(replicas), timeout=1.0) as hat:
        warm(hat, replicas)
        threads = [threading.Thread(target=caller, args=(hat,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        while calls[0] < 200:
            time.sleep(0.005)
        killed.set()
        doomed.kill()
        served_at_kill = len(access_lines(survivor))
        for thread in threads:
            thread.join(WAIT_SECONDS)
    assert failures == []
    assert calls[0] == 600
    assert len(access_lines(survivor)) > served_at_kill, "the survivor took over"


def test_tls_replicas_balance_with_the_first_address_as_server_name(
    tiny_model: Path, server_factory: StartServer, certificates: Certificates
) -> None:
    tls = certificates.client()
    servers = start_replicas(
        server_factory, tiny_model, *certificates.serve_args(mutual=True), tls=tls
    )
    with HatClient(addresses(servers), tls=tls) as hat:
        warm(hat, servers)
        assert hat.health("hatbot.v1.HatService") == "SERVING"


def peer_ports(server: ServerProcess) -> set[str]:
    """The client ports of the connections that Explain calls came on."""
    return {str(line["peer"]).rpartition(":")[2] for line in access_lines(server)}


@pytest.mark.parametrize("balanced", [False, True], ids=["one server", "two replicas"])
def test_calls_across_connection_age_boundaries_do_not_fail(
    tiny_model: Path, server_factory: StartServer, balanced: bool
) -> None:
    """The server closes connections after 0.5 s (GOAWAY; calls in flight finish, calls sent
    meanwhile are retried transparently, without using the retry policy); a client calling
    through 3 s of that reconnects each time and loses no call."""
    servers = start_replicas(
        server_factory, tiny_model, "--max-connection-age", "0.5", count=2 if balanced else 1
    )
    target: list[str] | str = addresses(servers) if balanced else addresses(servers)[0]
    started = time.monotonic()
    with HatClient(target, timeout=1.0) as hat:
        for _ in range(1000):
            assert len(hat.explain("river", 3)) == 3
            if time.monotonic() - started > 3.0:
                break
            time.sleep(0.01)
    for server in servers:
        assert len(peer_ports(server)) >= 2, "connections were not recycled"


def test_a_client_pinging_often_keeps_its_connection(
    tiny_model: Path, server_factory: StartServer
) -> None:
    """A client with aggressive keepalive (a ping a second, idle or not) is not sent away
    for too many pings (the server allows them: grpc.http2.max_ping_strikes 0): 5 calls
    over 5 s come on one connection."""
    (server,) = start_replicas(server_factory, tiny_model, count=1)
    options = [
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.keepalive_timeout_ms", 1000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
    with grpc.insecure_channel(server.wait_listening(), options=options) as channel:
        explain = hatbot_pb2_grpc.HatServiceStub(channel).Explain
        for _ in range(5):
            explain(hatbot_pb2.ExplainRequest(word="river", n_words=2), timeout=5)
            time.sleep(1.0)  # idle, pinging
    answered([server], 5)
    assert len(peer_ports(server)) == 1
