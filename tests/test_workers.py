"""Worker processes: one port, health, drain, restarts, the in-flight bound, expired deadlines."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from components import missing
from scrape import metric, metrics

from hatbot.client import HatClient
from hatbot.server import lookup
from hatbot.server.admission import OVERLOADED
from hatbot.server.process import SERVING, health_status
from hatbot.server.service import EXPIRED
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

if TYPE_CHECKING:
    from conftest import StartServer

    from hatbot.server.process import ServerProcess

WAIT = 60.0
GUESS = "/hatbot.v1.HatService/Guess"


def wait_until(condition: object, what: str, server: ServerProcess) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; log:\n{server.log}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def connection_owners(port: int) -> set[int]:
    """Pids owning established server-side connections on ``port`` (``ss -tnp``)."""
    if subprocess.run(["which", "ss"], capture_output=True, check=False).returncode:
        missing("ss is not installed (apt-get install iproute2)")
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", listing)}


def test_workers_share_one_port_and_each_reports_serving(
    tiny_model: Path, server_factory: StartServer
) -> None:
    server = server_factory(tiny_model, "--workers", "2")
    address = server.wait_serving()
    wait_until(lambda: server.log.count("serving model") == 3, "both workers to serve", server)
    workers = server.worker_pids()
    assert len(workers) == 2, server.log
    assert server.log.count(f"listening on {address}") == 2
    options = [("grpc.use_local_subchannel_pool", 1)]  # a connection of its own each
    channels = [grpc.insecure_channel(address, options=options) for _ in range(16)]
    try:
        for channel in channels:
            stub = hatbot_pb2_grpc.HatServiceStub(channel)
            answer = stub.Explain(hatbot_pb2.ExplainRequest(word="river", n_words=3), timeout=10)
            assert answer.words
        owners = connection_owners(int(address.rsplit(":", 1)[1]))
    finally:
        for channel in channels:
            channel.close()
    assert owners == set(workers), f"16 connections should reach both workers: {owners}"


def test_sigterm_drains_every_worker_and_exits_0(
    tiny_model: Path, server_factory: StartServer
) -> None:
    server = server_factory(tiny_model, "--workers", "2", "--grace", "2")
    server.wait_serving()
    workers = server.worker_pids()
    assert server.terminate() == 0, server.log
    for number in (1, 2):
        assert f"worker {number}: stopped" in server.log
    assert "hatbot.server.supervisor: stopped" in server.log
    assert not any(alive(pid) for pid in workers)


def test_a_killed_worker_comes_back(tiny_model: Path, server_factory: StartServer) -> None:
    server = server_factory(tiny_model, "--workers", "2", "--metrics-port", "0")
    address = server.wait_serving()
    victim, survivor = server.worker_pids()
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids(),
        "a new worker",
        server,
    )
    restarted = rf"worker \d \(pid {victim}\) exited with SIGKILL.*restarting it"
    # Logged before the new worker starts, but read from the server's stderr by a thread.
    wait_until(lambda: re.search(restarted, server.log), "the restart to be logged", server)
    assert survivor in server.worker_pids()
    wait_until(lambda: server.log.count("serving model") >= 4, "the new worker to serve", server)
    assert health_status(address) == SERVING
    with HatClient(address) as client:
        assert all(client.explain("river", 3) for _ in range(20))
    assert metric(server, "hatbot_worker_restarts_total") == 1
    assert server.terminate() == 0, server.log


def test_workers_leave_with_a_parent_that_is_killed(
    tiny_model: Path, server_factory: StartServer
) -> None:
    server = server_factory(tiny_model, "--workers", "2", "--grace", "1")
    server.wait_serving()
    workers = server.worker_pids()
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(WAIT)
    wait_until(lambda: not any(alive(pid) for pid in workers), "the workers to exit", server)


async def _burst(address: str, calls: int, timeout: float) -> Counter[tuple[str, str]]:
    """``calls`` Guess calls at once; their (status, details) counts."""
    async with grpc.aio.insecure_channel(address) as channel:
        guess = hatbot_pb2_grpc.HatServiceStub(channel).Guess
        await channel.channel_ready()

        async def one(i: int) -> tuple[str, str]:
            request = hatbot_pb2.GuessRequest(words=["lake", f"boat{'s' * (i % 2)}"], n_words=5)
            try:
                await guess(request, timeout=timeout)
            except grpc.aio.AioRpcError as error:
                return error.code().name, error.details() or ""
            return "OK", ""

        return Counter(await asyncio.gather(*(one(i) for i in range(calls))))


def test_a_tiny_in_flight_bound_sheds_the_excess_at_once(
    tiny_model: Path, server_factory: StartServer
) -> None:
    server = server_factory(
        tiny_model, "--workers", "1", "--max-in-flight", "1", "--metrics-port", "0"
    )
    address = server.wait_serving()
    outcomes = asyncio.run(_burst(address, 300, timeout=30))
    shed = outcomes[("RESOURCE_EXHAUSTED", OVERLOADED)]
    assert shed > 0, outcomes
    assert outcomes[("OK", "")] > 0, outcomes
    assert shed + outcomes[("OK", "")] == 300, outcomes
    assert metric(server, "hatbot_calls_shed_total", method=GUESS) == shed
    assert metric(server, "hatbot_calls_total", method=GUESS, code="RESOURCE_EXHAUSTED") == shed
    assert health_status(address) == SERVING  # the health service is never bounded


def _stall_a_busy_worker(
    address: str, worker: int, server: ServerProcess, enough: float = 3
) -> float:
    """Send 400 Guess calls with 1 s deadlines and stop the worker (SIGSTOP) for 1.5 s at a
    moment it holds ``enough`` of them in its threads; how many it held."""
    with ThreadPoolExecutor(1) as caller:
        calls = caller.submit(asyncio.run, _burst(address, 400, timeout=1.0))
        held = 0.0
        while not calls.done() and held < enough:
            os.kill(worker, signal.SIGSTOP)
            held = metric(server, "hatbot_calls_in_flight", method=GUESS)
            if held < enough:
                os.kill(worker, signal.SIGCONT)
                time.sleep(0.002)
        try:
            time.sleep(1.5)
        finally:
            os.kill(worker, signal.SIGCONT)
        outcomes = calls.result()
    assert set(code for code, _ in outcomes) <= {"OK", "DEADLINE_EXCEEDED"}, outcomes
    return held


def test_calls_whose_deadline_passed_are_not_computed(
    tiny_model: Path, server_factory: StartServer
) -> None:
    """Of the calls a stopped worker holds, one may be computing and some finishing; the others
    wait for their turn past their deadline, and are skipped. Up to 5 stalls, as the share of
    each kind is up to the scheduler."""
    server = server_factory(
        tiny_model, "--workers", "1", "--max-in-flight", "1000", "--metrics-port", "0"
    )
    address = server.wait_serving()
    (worker,) = server.worker_pids()
    stalls: list[float] = []
    expired = 0.0
    while expired == 0 and len(stalls) < 5:
        stalls.append(_stall_a_busy_worker(address, worker, server))
        # Calls still in gRPC's own queue when their deadline passes end there, uncounted.
        counted = [-1.0, metric(server, "hatbot_calls_total", method=GUESS)]
        while counted[-1] != counted[-2]:
            time.sleep(0.5)
            counted.append(metric(server, "hatbot_calls_total", method=GUESS))
        expired = metric(server, "hatbot_calls_expired_total", method=GUESS)
    assert expired > 0, f"no call was skipped; calls held at each stall: {stalls}"
    skipped = metric(server, "hatbot_calls_total", method=GUESS, code="DEADLINE_EXCEEDED")
    assert skipped == expired
    assert EXPIRED  # the message a skipped call ends with, should its caller still listen


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_another_process_holds_is_refused(
    tiny_model: Path, server_factory: StartServer, workers: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        refused = server_factory(tiny_model, "--port", port, "--workers", workers)
        code = refused.proc.wait(WAIT)
    refused.kill()
    assert code == 1, refused.log
    last = refused.log.strip().splitlines()[-1]
    assert last.startswith(f"hatbot serve: cannot bind port 127.0.0.1:{port}"), refused.log
    assert "another process holds it" in last
    assert "Traceback" not in refused.log


def test_a_second_server_cannot_join_a_served_port(
    tiny_model: Path, server_factory: StartServer
) -> None:
    """gRPC sets SO_REUSEPORT: without the check a second server would share the port."""
    first = server_factory(tiny_model, "--workers", "2")
    port = first.wait_serving().rsplit(":", 1)[1]
    second = server_factory(tiny_model, "--port", port, "--workers", "1")
    assert second.proc.wait(WAIT) == 1
    second.kill()
    assert "another process holds it" in second.log
    assert health_status(first.wait_listening()) == SERVING


def test_metrics_count_calls_per_method_and_code_over_every_worker(
    tiny_model: Path, server_factory: StartServer
) -> None:
    server = server_factory(tiny_model, "--workers", "2", "--metrics-port", "0")
    address = server.wait_serving()
    for _ in range(10):
        with HatClient(address) as client:
            client.guess(["lake", "boat"], 3)
            with pytest.raises(Exception, match="INVALID_ARGUMENT"):
                client.explain("ab1", 3)
    assert metric(server, "hatbot_calls_total", method=GUESS, code="OK") == 10
    explain = "/hatbot.v1.HatService/Explain"
    assert metric(server, "hatbot_calls_total", method=explain, code="INVALID_ARGUMENT") == 10
    assert metric(server, "hatbot_call_seconds_count", method=GUESS) == 10
    assert metric(server, "hatbot_calls_in_flight") == 0
    models = {
        dict(labels)["pid"]: value
        for (name, labels), value in metrics(server).items()
        if name == "hatbot_model_info" and value == 1
    }
    assert set(map(int, models)) == set(server.worker_pids())


def test_metrics_show_a_worker_computing_answers_its_tables_should_hold(
    tiny_model: Path, server_factory: StartServer, tmp_path: Path
) -> None:
    without_tables = tmp_path / "model"
    shutil.copytree(tiny_model, without_tables)
    shutil.rmtree(without_tables / lookup.DIRECTORY)
    for model, live in ((tiny_model, 0), (without_tables, 1)):
        server = server_factory(model, "--workers", "2", "--metrics-port", "0")
        server.wait_serving()
        samples = [
            value for (name, _), value in metrics(server).items() if name == "hatbot_answers_live"
        ]
        assert samples == [live, live], server.log  # one sample a worker
        server.terminate()


def test_a_server_without_rest_does_not_import_aiohttp() -> None:
    """aiohttp is a fifth of a cold start: only ``--http-port`` imports it."""
    code = "import sys, hatbot.cli, hatbot.server.app; print('aiohttp' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


def test_every_child_starts_with_what_the_parent_imported_frozen() -> None:
    """gc.freeze before each fork: a worker's collections skip the imported stack's objects."""
    code = """if True:
        import gc
        from hatbot.server import app
        from hatbot.server.supervisor import ModelSource, Supervisor

        def body(control):
            control.send((gc.get_freeze_count(), len(gc.get_objects())))
            return 0

        child = Supervisor(1, None, ModelSource())._fork(1, "probe", body)
        print(*child.control.recv())
        child.process.join(30)
        print(child.process.exitcode)
    """
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    counts, exit_code = result.stdout.splitlines()
    frozen, tracked = map(int, counts.split())
    assert exit_code == "0"
    assert frozen > 10 * tracked, (frozen, tracked)
