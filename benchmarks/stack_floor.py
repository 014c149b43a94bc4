"""The gRPC stack's floor on one core: Health/Check driven by h2load against grpcio alone and
against ``hatbot serve``, each server pinned to its own CPU.

    python benchmarks/stack_floor.py --model var/models/20news [--concurrency 1 8 128] \\
        [--duration 10] [--rounds 5] [--warmup 1] [--server-cpu 0] [--load-cpu 1] \\
        [--out benchmarks/results/stack_floor.md]

h2load (Debian's nghttp2-client: nghttp2's HTTP/2 load generator, compiled C, one thread)
keeps ``--concurrency`` calls in flight, closed loop, over up to 8 connections, from
``--load-cpu``: a load generator that costs far less CPU a call than any Python client, so
that what it measures is the server's. The servers, each on ``--server-cpu``:

- ``grpcio alone``: ``grpc.server`` with a thread pool and grpcio's own health servicer,
  nothing else: the floor of the Python gRPC stack;
- ``hatbot serve --workers 1``, with its interceptors (the in-flight bound), no metrics;
- the same with ``--metrics-port 0``: every call also counted in Prometheus metrics.

Each level runs in ``--rounds`` slices, the servers' slices alternating, so that the
machine's drifting speed falls on all alike; of each slice the first ``--warmup`` seconds
are not counted. Reported per server and level: calls counted, QPS, p50/p99/p99.9/max
latency (h2load's per-request log). h2load reads HTTP status, not gRPC's: the metrics
server's ``hatbot_calls_total`` is checked to hold at least as many OK Health/Checks as
h2load counted of it, so that every answer counted was a gRPC OK.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from serving import BenchmarkError, cpu_model

from hatbot import arguments
from hatbot.game.summary import percentile
from hatbot.models.store import write_text_atomic
from hatbot.server.process import ServerProcess

CHECK_PATH = "/grpc.health.v1.Health/Check"
CHECK_BODY = b"\x00" + (0).to_bytes(4, "big")  # one uncompressed, empty HealthCheckRequest
MAX_CONNECTIONS = 8
GRPCIO_ALONE = "grpcio alone"


@dataclass
class Server:
    """One server under test: its name, address and, with metrics, its /metrics URL."""

    name: str
    address: str
    metrics_url: str | None = None
    latencies: dict[int, list[float]] = field(default_factory=dict)  # level -> seconds


# The bare server runs in a fresh interpreter importing grpcio alone: a process forked or
# spawned from this one would carry this script's imports (gensim, scipy...), whose objects
# the garbage collector walks.
_GRPCIO_ALONE = """if True:
    from concurrent import futures
    import grpc
    from grpc_health.v1 import health, health_pb2_grpc
    server = grpc.server(futures.ThreadPoolExecutor())
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    print(server.add_insecure_port("127.0.0.1:0"), flush=True)
    server.start()
    server.wait_for_termination()
"""


@contextmanager
def grpcio_alone(cpu: int) -> Iterator[Server]:
    """grpcio's health servicer alone, pinned to ``cpu``; killed (by pid) at the end."""
    command = ["taskset", "--cpu-list", str(cpu), sys.executable, "-c", _GRPCIO_ALONE]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise BenchmarkError(f"the grpcio-alone server did not start (exit {process.poll()})")
        yield Server(GRPCIO_ALONE, f"127.0.0.1:{port}")
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def pin(pid: int, cpu: int) -> None:
    """Pin every thread of process ``pid`` to ``cpu`` (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})


@contextmanager
def hatbot(model_dir: Path, cpu: int, metrics: bool) -> Iterator[Server]:
    """``hatbot serve --workers 1`` (with ``--metrics-port 0`` if ``metrics``), parent and
    worker pinned to ``cpu``; stopped with SIGTERM at the end."""
    extra = ["--workers", "1", *(["--metrics-port", "0"] if metrics else [])]
    with ServerProcess(model_dir, *extra) as server:
        for pid in [server.proc.pid, *server.worker_pids()]:
            pin(pid, cpu)
        name = shlex.join(["hatbot", "serve", *extra])
        url = server.wait_metrics() if metrics else None
        yield Server(name, server.wait_serving(), url)


def connections(level: int) -> tuple[int, int]:
    """h2load's clients and streams per client for ``level`` calls in flight."""
    clients = math.gcd(level, MAX_CONNECTIONS)
    return clients, level // clients


def _ms(seconds: float) -> str:
    """A duration as h2load reads one (it takes no fractions of a unit)."""
    return f"{round(seconds * 1000)}ms"


def h2load(
    server: Server, level: int, seconds: float, warmup: float, cpu: int, work: Path
) -> list[float]:
    """The latencies (s) of one h2load slice's counted Health/Checks against ``server``;
    ``work`` holds the request body (:data:`CHECK_BODY`, as ``check.bin``)."""
    body, log = work / "check.bin", work / "requests.log"
    log.unlink(missing_ok=True)  # h2load appends to its log
    clients, streams = connections(level)
    command = ["taskset", "--cpu-list", str(cpu), "h2load", "-t", "1"]
    command += ["-c", str(clients), "-m", str(streams)]
    command += ["-D", _ms(seconds), f"--warm-up-time={_ms(warmup)}", "-d", str(body)]
    command += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    command += [f"--log-file={log}", f"http://{server.address}{CHECK_PATH}"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 60,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"h2load failed ({done.returncode}): {done.stderr.strip()}")
    latencies = []
    for line in log.read_text().splitlines():
        _, status, micros = line.split("\t")
        if status != "200":
            raise BenchmarkError(f"{server.name}: HTTP status {status} from h2load")
        latencies.append(int(micros) / 1e6)
    if not latencies:
        raise BenchmarkError(f"{server.name}: no call ended in a {seconds:g} s slice")
    return latencies


def ok_checks(metrics_url: str) -> float:
    """The OK Health/Checks a hatbot server counted."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "hatbot_calls_total"
        and sample.labels == {"method": CHECK_PATH, "code": "OK"}
    )


def measure(servers: list[Server], args: argparse.Namespace) -> None:
    """Every level's alternating slices of every server, into each server's results."""
    seconds = args.duration / args.rounds
    with tempfile.TemporaryDirectory(prefix="stack-floor-") as work:
        (Path(work) / "check.bin").write_bytes(CHECK_BODY)
        for level in args.concurrency:
            for _ in range(args.rounds):
                for server in servers:
                    slice_ = h2load(server, level, seconds, args.warmup, args.load_cpu, Path(work))
                    server.latencies.setdefault(level, []).extend(slice_)
            print(f"{level} in flight: done", file=sys.stderr)
    for server in servers:
        if server.metrics_url is None:
            continue
        counted = sum(len(latencies) for latencies in server.latencies.values())
        if ok_checks(server.metrics_url) < counted:
            raise BenchmarkError(f"{server.name}: fewer gRPC OKs than h2load's {counted}")


def format_table(servers: list[Server], levels: Sequence[int], duration: float) -> str:
    """One row per server and level, each measured for ``duration`` seconds."""
    header = "| server | in flight | calls | QPS | p50 ms | p99 ms | p99.9 ms | max ms |"
    rows = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for level in levels:
        for server in servers:
            latencies = server.latencies[level]
            cells = [percentile(latencies, p) for p in (50, 99, 99.9)] + [max(latencies)]
            shown = " | ".join(f"{1000 * (value or 0.0):.2f}" for value in cells)
            qps = len(latencies) / duration
            rows.append(f"| {server.name} | {level} | {len(latencies)} | {qps:.0f} | {shown} |")
    return "\n".join(rows)


def report(args: argparse.Namespace, table: str) -> str:
    version = subprocess.run(
        ["h2load", "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    header = [
        "# gRPC stack floor",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- machine: {os.cpu_count()} CPUs, {cpu_model()}; servers on CPU {args.server_cpu}, "
        f"h2load on CPU {args.load_cpu}",
        f"- load: {version.strip()}, one thread",
        f"- model: {args.model}",
    ]
    return "\n".join(header) + "\n\n" + table + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the model hatbot serves")
    parser.add_argument(
        "--concurrency", nargs="+", type=arguments.positive_int, default=[1, 8, 128]
    )
    parser.add_argument("--duration", type=arguments.positive_seconds, default=10.0)
    parser.add_argument("--rounds", type=arguments.positive_int, default=5)
    parser.add_argument("--warmup", type=arguments.seconds, default=1.0)
    cpus = sorted(os.sched_getaffinity(0))
    parser.add_argument("--server-cpu", type=int, default=cpus[0])
    parser.add_argument("--load-cpu", type=int, default=cpus[-1])
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    for option in ("server_cpu", "load_cpu"):
        if getattr(args, option) not in cpus:
            parser.error(f"--{option.replace('_', '-')}: must be one of CPUs {cpus}")
    if not (args.model / "manifest.json").is_file():
        parser.error(f"--model: not a model directory: {args.model}")
    if args.out is not None and not args.out.parent.is_dir():
        parser.error(f"--out: no directory {args.out.parent}")
    if shutil.which("h2load") is None:
        parser.error("h2load is not installed (Debian: apt-get install nghttp2-client)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with ExitStack() as stack:
            servers = [
                stack.enter_context(grpcio_alone(args.server_cpu)),
                stack.enter_context(hatbot(args.model, args.server_cpu, metrics=False)),
                stack.enter_context(hatbot(args.model, args.server_cpu, metrics=True)),
            ]
            measure(servers, args)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    text = report(args, format_table(servers, args.concurrency, args.duration))
    if args.out is not None:
        write_text_atomic(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
