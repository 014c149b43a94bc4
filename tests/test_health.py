"""grpc.health.v1 transitions (loading, serving, SIGTERM), ``hatbot health`` and reflection."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from conftest import feed_fifo, fifo_model
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

if TYPE_CHECKING:
    from conftest import StartServer


SERVICE = "hatbot.v1.HatService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WAIT = 60.0
Cli = Callable[..., subprocess.CompletedProcess[str]]


def check(address: str, service: str) -> int:
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status)


def test_not_serving_while_the_model_loads_then_serving(
    tiny_model: Path, tmp_path: Path, server_factory: StartServer, cli: Cli
) -> None:
    """The model's vectors are a named pipe, so loading blocks until the test feeds it."""
    model = tmp_path / "model"
    vectors = fifo_model(tiny_model, model)

    server = server_factory(model, "--grace", "1", "--workers", "1")  # one reader of the fifo
    address = server.wait_listening()
    assert check(address, "") == NOT_SERVING
    assert check(address, SERVICE) == NOT_SERVING
    with grpc.insecure_channel(address) as channel:
        stub = hatbot_pb2_grpc.HatServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Explain(hatbot_pb2.ExplainRequest(word="river", n_words=3), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    for service in ("", SERVICE):
        result = cli("health", "--addr", address, "--service", service)
        assert result.returncode != 0, result
        assert result.stdout.strip() == "NOT_SERVING"
    assert server.proc.poll() is None, "the server must wait for its model, not exit"

    feed_fifo(model / "vectors.kv", vectors, lambda: server.proc.poll() is None, lambda: server.log)
    server.wait_serving()
    with grpc.insecure_channel(address) as channel:
        stub = hatbot_pb2_grpc.HatServiceStub(channel)
        answer = stub.Explain(hatbot_pb2.ExplainRequest(word="river", n_words=3), timeout=10)
    assert answer.words
    assert server.terminate() == 0, server.log


def test_sigterm_turns_a_watcher_not_serving_and_exits_0(
    tiny_model: Path, server_factory: StartServer
) -> None:
    server = server_factory(tiny_model, "--grace", "2")
    address = server.wait_serving()
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=WAIT)
        try:
            assert next(stream).status == SERVING
            server.proc.send_signal(signal.SIGTERM)
            assert next(stream).status == NOT_SERVING
        finally:
            stream.cancel()
    assert server.terminate() == 0, server.log
    assert "received SIGTERM" in server.log
    assert "stopped" in server.log


def test_repeated_sigterm_still_exits_0(tiny_model: Path, server_factory: StartServer) -> None:
    """Orchestrators may signal again while the server stops (``docker stop``, a second kill).

    Regression test: Python restores the default SIGTERM handler while the interpreter
    shuts down, so a repeat arriving after the drain killed the process (exit -15).
    """
    server = server_factory(tiny_model, "--grace", "1")
    server.wait_serving()
    deadline = time.monotonic() + WAIT
    while server.proc.poll() is None and time.monotonic() < deadline:
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.001)
    assert server.terminate() == 0, server.log
    assert "stopped" in server.log


def test_sigterm_with_watchers_that_disconnect_on_not_serving(
    tiny_model: Path, server_factory: StartServer
) -> None:
    """Several watchers (say a load balancer's), each hanging up once it sees NOT_SERVING.

    Regression test: grpcio-health-checking 1.85's HealthServicer sends Watch updates while
    holding its lock, and a watcher disconnecting meanwhile needs that lock on gRPC's single
    event thread, which must also complete the pending send. Unpatched, the server deadlocks
    in enter_graceful_shutdown() and never exits (app._HealthServicer sends outside the lock).
    """
    server = server_factory(tiny_model, "--grace", "1")
    address = server.wait_serving()
    bound = 20.0  # generous bounds: the deadlock never resolves, a healthy server is instant
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        streams = [
            stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=bound)
            for service in ("", SERVICE) * 4
        ]
        for stream in streams:
            assert next(stream).status == SERVING
        server.proc.send_signal(signal.SIGTERM)
        received = []
        for stream in streams:
            try:
                received.append(next(stream).status)
            except grpc.RpcError as error:
                received.append(error.code())
            stream.cancel()
    try:
        code: int | None = server.proc.wait(bound)
    except subprocess.TimeoutExpired:
        code = None
    deadlock = (
        "server hung in enter_graceful_shutdown(): the HealthServicer deadlocks when a Watch "
        "stream closes while it sends updates (see docstring); "
        f"statuses received: {received}, exit code: {code}"
    )
    assert received == [NOT_SERVING] * len(streams), deadlock
    assert code == 0, deadlock


def test_a_model_that_fails_to_load_exits_non_zero(
    tiny_model: Path, tmp_path: Path, server_factory: StartServer
) -> None:
    """A broken model must not leave a server that is up but never SERVING."""
    from annoy import AnnoyIndex

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    index = AnnoyIndex(16, "angular")
    for i in range(3):
        index.add_item(i, [float(i + 1)] * 16)
    index.build(1)
    (model / "index.ann").unlink()
    index.save(str(model / "index.ann"))
    index.unload()

    server = server_factory(model)
    try:
        code = server.proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server with a broken model did not exit; stderr:\n{server.log}")
    server.kill()  # joins the stderr reader
    assert code != 0
    assert "disagree on the vocabulary size" in server.log


def test_serving_server_reports_serving(hat_server: str) -> None:
    assert check(hat_server, "") == SERVING
    assert check(hat_server, SERVICE) == SERVING


def test_unknown_service_is_not_found(hat_server: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        check(hat_server, "no.such.Service")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_command_exits_0_when_serving(hat_server: str, cli: Cli) -> None:
    for service in ("", SERVICE):
        result = cli("health", "--addr", hat_server, "--service", service)
        assert result.returncode == 0, result
        assert result.stdout.strip() == "SERVING"


def test_health_command_fails_for_an_unknown_service(hat_server: str, cli: Cli) -> None:
    result = cli("health", "--addr", hat_server, "--service", "no.such.Service")
    assert result.returncode != 0
    assert "NOT_FOUND" in result.stderr


def test_health_command_fails_when_nothing_listens(cli: Cli) -> None:
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = cli("health", "--addr", f"127.0.0.1:{port}", "--timeout", "0.5")
    assert result.returncode != 0
    assert "UNAVAILABLE" in result.stderr or "DEADLINE_EXCEEDED" in result.stderr, result


def test_reflection_lists_and_describes_the_service(hat_server: str) -> None:
    with grpc.insecure_channel(hat_server) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {SERVICE, "grpc.health.v1.Health"} <= services
        from google.protobuf.descriptor_pool import DescriptorPool

        service = DescriptorPool(database).FindServiceByName(SERVICE)
        methods = {method.name: method for method in service.methods}
    assert set(methods) == {"Explain", "Guess", "GetModelInfo"}
    explain = methods["Explain"]
    assert explain.input_type.full_name == "hatbot.v1.ExplainRequest"
    assert explain.output_type.full_name == "hatbot.v1.ExplainResponse"
    assert {field.name for field in explain.input_type.fields} == {"word", "n_words"}
