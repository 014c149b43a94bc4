"""nginx (Debian's package) as a real process on loopback, running deploy/nginx/hatbot.conf.

The shipped configuration is rendered into a temporary directory: its upstreams point at the
given replicas, it listens on given loopback ports, and it logs there. A main configuration of
its own wraps it (``daemon off;``, its own pid file, error log and temporary paths), so the
system's /etc/nginx and port 80 are never used.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from hatbot.closing import Closing

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx" / "hatbot.conf"
WAIT_SECONDS = 20.0

MAIN = """\
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{
    worker_connections 256;
}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/hatbot.conf;
}}
"""


def find_nginx() -> str | None:
    """The nginx executable (Debian puts it in /usr/sbin, off a user's PATH), if any."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


_LISTEN = re.compile(r"^(\s+)listen (\d+)( http2)?;$", re.MULTILINE)
_SERVER = re.compile(r"^(\s+)server (\S+)((?: [^;]*)?);$")


def _upstream(text: str, name: str, addresses: Sequence[str], down: Collection[str]) -> str:
    """``text`` with the servers of ``upstream NAME`` replaced by ``addresses``, each with the
    parameters of the shipped first server (and ``down`` if it is one of ``down``)."""
    block = re.search(rf"(upstream {name} \{{\n)(.*?)(\n\}})", text, re.DOTALL)
    if block is None:
        raise ValueError(f"{CONFIG}: no upstream {name}")
    lines = block[2].split("\n")
    servers = [(i, match) for i, line in enumerate(lines) if (match := _SERVER.match(line))]
    if not servers:
        raise ValueError(f"{CONFIG}: upstream {name} has no server")
    first, shipped = servers[0]
    rendered = [
        f"{shipped[1]}server {address}{shipped[3]}{' down' if address in down else ''};"
        for address in addresses
    ]
    kept = [line for i, line in enumerate(lines) if i not in dict(servers)]
    kept[first:first] = rendered
    return text[: block.start(2)] + "\n".join(kept) + text[block.end(2) :]


def render(
    directory: Path,
    *,
    grpc_port: int,
    http_port: int,
    grpc_replicas: Sequence[str],
    http_replicas: Sequence[str],
    down: Collection[str] = (),
) -> Path:
    """Write the main configuration and the rendered hatbot.conf into ``directory``; the
    main one's path. The shipped ports 50051 (gRPC) and 8080 (REST) become the given ones;
    replicas in ``down`` are taken out of rotation, as an operator does before stopping one."""
    ports = {"50051": grpc_port, "8080": http_port}
    replaced: list[str] = []

    def listen(match: re.Match[str]) -> str:
        replaced.append(match[2])
        return f"{match[1]}listen 127.0.0.1:{ports[match[2]]}{match[3] or ''};"

    text = _LISTEN.sub(listen, CONFIG.read_text("utf-8"))
    if sorted(replaced) != sorted(ports):
        raise ValueError(f"{CONFIG}: want 'listen' on {sorted(ports)}, found {replaced}")
    text = _upstream(text, "hatbot_grpc", grpc_replicas, down)
    text = _upstream(text, "hatbot_http", http_replicas, down)
    text = text.replace("/var/log/nginx/", f"{directory}/")
    (directory / "hatbot.conf").write_text(text, "utf-8")
    main = directory / "nginx.conf"
    main.write_text(MAIN.format(dir=directory), "utf-8")
    return main


class Nginx(Closing):
    """``nginx -t`` on ``config``, then nginx in the foreground in its own process group."""

    def __init__(self, binary: str, config: Path) -> None:
        self.directory = config.parent
        command = [binary, "-p", f"{self.directory}/", "-c", str(config)]
        command += ["-e", str(self.directory / "error.log")]
        checked = subprocess.run(
            [*command, "-t"], capture_output=True, text=True, timeout=WAIT_SECONDS, check=False
        )
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t refused {config}:\n{checked.stderr}")
        self.output = (self.directory / "nginx.out").open("w")
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_listening(self, *ports: int) -> None:
        """Wait until nginx accepts TCP connections on every one of ``ports``."""
        deadline = time.monotonic() + WAIT_SECONDS
        for port in ports:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nginx exited {self.proc.returncode}:\n{self.log()}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx never listened on {port}:\n{self.log()}")
                time.sleep(0.05)

    def reload(self) -> None:
        """``nginx -s reload`` (SIGHUP to the master): new workers read the configuration
        again; wait until the old worker has finished its calls and exited."""
        exited = self.log().count(" exited with code ")
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT_SECONDS
        while self.log().count(" exited with code ") <= exited:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"nginx did not reload:\n{self.log()}")
            time.sleep(0.05)

    def log(self, name: str = "error.log") -> str:
        """A log file of this nginx (``error.log``, ``hatbot-grpc.access.log``...)."""
        path = self.directory / name
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def close(self) -> None:
        """Graceful stop (SIGQUIT), then SIGKILL to the whole group if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(WAIT_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(WAIT_SECONDS)
        self.output.close()
