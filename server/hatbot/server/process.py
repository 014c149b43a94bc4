"""Run ``hatbot serve`` as a child process on free ports and wait until it is SERVING.

For tests, benchmarks and game harnesses that need a real server next to them.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from hatbot.client import HatClient, HatError

_LISTENING = re.compile(r"\b(http )?listening on (\S+):(\d+)")


class ServerProcess:
    """A ``hatbot serve`` child bound to 127.0.0.1 on free ports (``--port 0``).

    Use as a context manager: entering starts it and waits for SERVING, leaving sends
    SIGTERM and waits for the exit. The child's log lines are kept in :attr:`log`.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        strategy: str = "default",
        http: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.args = [sys.executable, "-m", "hatbot.cli", "serve", "--model", str(model_dir)]
        self.args += ["--port", "0", "--strategy", strategy, *extra_args]
        if http:
            self.args += ["--http-port", "0"]
        self.http = http
        self.log: list[str] = []
        self.address = ""
        self.http_url = ""
        self._announced = threading.Event()
        self._process: subprocess.Popen[str] | None = None

    @property
    def process(self) -> subprocess.Popen[str]:
        if self._process is None:
            raise RuntimeError("the server has not been started")
        return self._process

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match and match.group(1):
                self.http_url = f"http://{match.group(2)}:{match.group(3)}"
            elif match:
                self.address = f"{match.group(2)}:{match.group(3)}"
            if self.address and (self.http_url or not self.http):
                self._announced.set()
        self._announced.set()  # the child exited: stop waiting

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the child and block until its ports are known and health is SERVING."""
        self._process = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read_log, daemon=True).start()
        deadline = time.monotonic() + timeout
        if not self._announced.wait(timeout) or not self.address:
            self.kill()
            raise RuntimeError("server did not announce its port:\n" + "\n".join(self.log))
        with HatClient(self.address, timeout=1.0) as client:
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if client.health() == "SERVING":
                        return self
                except HatError:
                    pass
                time.sleep(0.05)
        self.kill()
        raise RuntimeError("server did not become SERVING:\n" + "\n".join(self.log))

    def stop(self, timeout: float = 30.0) -> int:
        """Send SIGTERM and return the exit code (the child is killed after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """Kill the child at once."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
