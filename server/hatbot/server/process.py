"""Run ``hatbot serve`` as a child process on free ports and wait for it.

For tests, benchmarks and game harnesses that need a real server beside them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hatbot.client import channels
from hatbot.closing import Closing
from hatbot.tls import TlsConfig

SERVICE_NAME = "hatbot.v1.HatService"
SERVING = health_pb2.HealthCheckResponse.SERVING
WAIT_SECONDS = 60.0
_ALL_SERVING = re.compile(r"serving model \S+ from .* in \d+ worker")
_LISTENING = re.compile(r"\b(http |metrics )?listening on (\S+):(\d+)")


def health_status(
    address: str, service: str = "", timeout: float = 2.0, tls: TlsConfig | None = None
) -> int | None:
    """The health Check status of ``service`` at ``address`` (over TLS with ``tls``); None
    when the call fails."""
    with channels.open_channel(channels.channel_spec(address, False, tls)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return None
        return int(response.status)


class ServerProcess(Closing):
    """A ``python -m hatbot.cli serve`` child on 127.0.0.1 and free ports (``--port 0``).

    Started at construction; ``extra`` are more ``serve`` arguments (``"--http-port", "0"``
    for the REST side; with ``model_dir`` None, say ``"--model-root", ROOT``). A server
    started with ``--tls-cert`` needs ``tls``, how to reach it (the CA that signed its
    certificate, and a client certificate under mutual TLS): the health checks use it and
    :attr:`http_url` is ``https://``. A thread keeps the child's log lines in :attr:`lines`
    and learns the ports from its ``listening on`` lines. As a context manager it waits for
    SERVING on entry and stops the child with SIGTERM on exit.
    """

    def __init__(self, model_dir: Path | None, *extra: str, tls: TlsConfig | None = None) -> None:
        command = [sys.executable, "-m", "hatbot.cli", "serve"]
        if model_dir is not None:
            command += ["--model", str(model_dir)]
        command += ["--host", "127.0.0.1", "--port", "0", *extra]
        # Its own process group: kill() ends the worker processes with their parent.
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.tls = tls
        self.lines: list[str] = []
        self.address: str | None = None
        self.http_url: str | None = None
        self.metrics_url: str | None = None
        self._announced = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._announced:
                self.lines.append(line)
                match = _LISTENING.search(line)
                if match and match[1] == "http " and self.http_url is None:
                    scheme = "http" if self.tls is None else "https"
                    self.http_url = f"{scheme}://{match[2]}:{match[3]}"
                elif match and match[1] == "metrics " and self.metrics_url is None:
                    self.metrics_url = f"http://{match[2]}:{match[3]}/metrics"
                elif match and not match[1] and self.address is None:
                    self.address = f"{match[2]}:{match[3]}"
                self._announced.notify_all()
        with self._announced:
            self._announced.notify_all()  # EOF: wake waiters, who then see nothing announced

    def worker_pids(self) -> list[int]:
        """The pids of the server's child processes (its workers), from /proc."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    @property
    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        return "".join(self.lines)

    def _wait_announced(self, attribute: str, timeout: float) -> str:
        with self._announced:
            self._announced.wait_for(
                lambda: getattr(self, attribute) or not self._reader.is_alive(), timeout
            )
        value: str | None = getattr(self, attribute)
        if value is None:
            raise RuntimeError(f"server did not announce its {attribute}; stderr:\n{self.log}")
        return value

    def wait_listening(self, timeout: float = WAIT_SECONDS) -> str:
        """The gRPC ``host:port`` the server announced once it bound its port."""
        return self._wait_announced("address", timeout)

    def wait_http(self, timeout: float = WAIT_SECONDS) -> str:
        """The ``http(s)://host:port`` of the REST side (started with ``--http-port``)."""
        return self._wait_announced("http_url", timeout)

    def wait_metrics(self, timeout: float = WAIT_SECONDS) -> str:
        """The ``http://host:port/metrics`` URL (started with ``--metrics-port``)."""
        return self._wait_announced("metrics_url", timeout)

    def wait_health(self, status: int, service: str = "", timeout: float = WAIT_SECONDS) -> str:
        """Poll the health Check of ``service`` until it reports ``status``; the address."""
        address = self.wait_listening(timeout)
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = health_status(address, service, tls=self.tls)
            if seen == status:
                return address
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        name = health_pb2.HealthCheckResponse.ServingStatus.Name
        raise RuntimeError(
            f"health of {service!r} never became {name(status)} (last {seen}, "
            f"exit {self.proc.poll()}); stderr:\n{self.log}"
        )

    def wait_serving(self, timeout: float = WAIT_SECONDS) -> str:
        """Wait until every worker serves (the parent says so) and both the server and
        HatService report SERVING; the address."""
        with self._announced:
            self._announced.wait_for(
                lambda: _ALL_SERVING.search(self.log) or not self._reader.is_alive(), timeout
            )
        for service in ("", SERVICE_NAME):
            address = self.wait_health(SERVING, service, timeout)
        return address

    def terminate(self, timeout: float = WAIT_SECONDS) -> int:
        """Send SIGTERM and return the exit code (the child is killed if it hangs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"server ignored SIGTERM; stderr:\n{self.log}") from None
        self._release_log_pipe()
        return code

    def close(self) -> None:
        """Stop the child with SIGTERM (see :meth:`terminate`)."""
        self.terminate()

    def kill(self) -> None:
        """Kill the server, its worker processes included, and reap it."""
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(WAIT_SECONDS)
        self._release_log_pipe()

    def _release_log_pipe(self) -> None:
        self._reader.join(WAIT_SECONDS)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def __enter__(self) -> ServerProcess:
        try:
            self.wait_serving()
        except BaseException:
            self.kill()
            raise
        return self
