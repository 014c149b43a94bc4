"""Closed-loop gRPC load on ``hatbot serve``: QPS, latency percentiles and status codes per call.

    python benchmarks/serving.py --serve var/models/20news [--server-args="--workers 2"] \\
        [--kinds KIND ...] [--concurrency 1 8 32 128] [--duration 10] [--rounds 5] \\
        [--warmup 1] [--deadline 1] [--channels 8] [--shed-backoff 0] [--client-retries] \\
        [--seed 0] [--out benchmarks/results/serving.md]
    python benchmarks/serving.py --addr 127.0.0.1:50051 --model var/models/20news ...
    python benchmarks/serving.py --serve var/models/20news --compare-workers 1 2 \\
        --kinds guess-unseen --concurrency 16
    python benchmarks/serving.py --serve var/models/20news --cold-start 5

Per call kind and concurrency level, that many grpc.aio coroutines each issue their next call as
soon as the previous one ends, spread round-robin over ``--channels`` channels, each its own TCP
connection (checked with ``ss -tnp``: a server with several workers on one port serves each
connection on one worker). Every call has a ``--deadline``. Levels run in turn; within a
level, each other kind is measured against the floor (``health``) in ``--rounds`` alternating
slices of the two, so that its "of floor" figures compare measurements interleaved in time (a
shared machine's speed drifts within minutes). Of each slice, calls ending in the first
``--warmup`` seconds are not counted, those ending in the next ``--duration`` / ``--rounds``
seconds are. Kinds:

- ``health``: grpc.health.v1.Health/Check of the whole server, the floor of the stack;
- ``explain-candidate`` / ``explain-other``: Explain (5 words) of candidate words (precomputed
  lists) / of the main view's other vocabulary words;
- ``guess-unseen``: Guess (5 words, soft) of 1-5 distinct candidate words, a tuple no Guess of
  the run sent before, so that no answer comes from a cache. A started server is fresh; against
  an ``--addr`` already used with the same ``--seed``, pass another one;
- ``guess-host``: the host's pattern: Explain a candidate word for 5 hints, then Guess its first
  1, 2, ... 5 hints; only the Guesses are timed and counted.

Requests come from streams seeded by ``--seed``: the same seed sends the same sequence
(``--dump-requests FILE`` writes it as JSON lines). A caller that gets RESOURCE_EXHAUSTED makes
its next call at once, or after ``--shed-backoff`` seconds; with ``--client-retries`` the
channels first retry it as HatClient's do (gRPC's retry policy and throttling, see
``hatbot.client.channels``), and a call's latency is that of all its attempts. During every
slice, the floor's
too, one separate process probes Health/Check every 10 ms on its own connection (warm-up
included). Reported per kind and level: calls counted, QPS (OK calls a second), p50/p99/p99.9
of OK calls, p99 of RESOURCE_EXHAUSTED ones, the probe's p99 and max, every status code, and
QPS, p50 and p99 over the floor's slices beside it; ``--out`` also
writes the command, date, machine, model version and seed. ``--compare-workers 1 2`` runs
everything against a server with ``--workers 1``, then ``--workers 2``, and adds ratios to the
first; ``--cold-start N`` instead starts the server N times and times process start to both
health services SERVING.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
from gensim.models import KeyedVectors
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hatbot import arguments
from hatbot.client.channels import channel_spec
from hatbot.closing import Closing
from hatbot.game.summary import percentile
from hatbot.models import neighbours, store
from hatbot.models.neighbours import read_words
from hatbot.server.process import SERVICE_NAME, SERVING, ServerProcess
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

KINDS = ("health", "explain-candidate", "explain-other", "guess-unseen", "guess-host")
N_WORDS = 5  # words asked of every Explain and Guess, and hints of the host's pattern
PROBE_INTERVAL = 0.01
POLL_INTERVAL = 0.01
CONNECT_TIMEOUT = 10.0
START_TIMEOUT = 120.0
MAX_DRAWS = 10_000  # draws of an unseen hint tuple before giving up
# Without it, channels to one target share one TCP connection (the global subchannel pool).
OWN_CONNECTION = ("grpc.use_local_subchannel_pool", 1)
HEALTH_CHECK = health_pb2.HealthCheckRequest(service="")

Sample = tuple[float, float, str]  # when a call ended, its latency in seconds, its status code


class BenchmarkError(Exception):
    """A failure to report in one line, without a traceback."""


@dataclass(frozen=True)
class Words:
    """The model's candidate words and its other main-view vocabulary words."""

    candidates: list[str]
    others: list[str]


def read_word_lists(model_dir: Path) -> Words:
    """Candidate words (the strategy's tables) and the rest of the main view's vocabulary."""
    candidates = read_words(model_dir / neighbours.DIRECTORY)
    vocabulary = KeyedVectors.load(str(model_dir / store.VECTORS), mmap="r").index_to_key
    known = set(candidates)
    return Words(candidates, [word for word in vocabulary if word not in known])


class Requests:
    """The seeded request streams of one server's run; every request drawn is logged."""

    def __init__(self, words: Words, seed: int, log: list[dict[str, Any]], run: int = 0) -> None:
        self.words = words
        self.seed = seed
        self.log = log
        self.run = run
        self.level = ("", 0)
        self.sent_guesses: set[tuple[str, ...]] = set()
        self._cycles: dict[str, Iterator[str]] = {}
        self._unseen = self._rng("guess-unseen")

    def _rng(self, kind: str) -> random.Random:
        return random.Random(f"{self.seed}:{kind}")

    def _cycle(self, kind: str, words: list[str]) -> Iterator[str]:
        rng = self._rng(kind)
        while True:
            order = list(words)
            rng.shuffle(order)
            yield from order

    def _note(self, rpc: str, words: Sequence[str]) -> None:
        kind, level = self.level
        self.log.append(
            {"run": self.run, "kind": kind, "level": level, "rpc": rpc, "words": list(words)}
        )

    def explain(self, kind: str) -> hatbot_pb2.ExplainRequest:
        """The next Explain of ``kind``'s shuffled word cycle (others for explain-other)."""
        if kind not in self._cycles:
            pool = self.words.others if kind == "explain-other" else self.words.candidates
            self._cycles[kind] = self._cycle(kind, pool)
        word = next(self._cycles[kind])
        self._note("Explain", [word])
        return hatbot_pb2.ExplainRequest(word=word, n_words=N_WORDS)

    def guess(self, hints: Sequence[str]) -> hatbot_pb2.GuessRequest:
        """A soft Guess of ``hints``, remembered as sent."""
        self.sent_guesses.add(tuple(hints))
        self._note("Guess", hints)
        return hatbot_pb2.GuessRequest(
            words=hints, n_words=N_WORDS, criteria=hatbot_pb2.CRITERIA_SOFT
        )

    def unseen_guess(self) -> hatbot_pb2.GuessRequest:
        """A Guess of 1-5 distinct candidate words, a tuple no Guess of the run sent before."""
        candidates = self.words.candidates
        for _ in range(MAX_DRAWS):
            size = self._unseen.randint(1, min(N_WORDS, len(candidates)))
            hints = tuple(self._unseen.sample(candidates, size))
            if hints not in self.sent_guesses:
                return self.guess(hints)
        raise BenchmarkError(f"guess-unseen: no unseen hint tuple in {MAX_DRAWS} draws")


@dataclass
class LevelResult:
    """The calls of one kind at one concurrency level counted in the measured window."""

    kind: str
    level: int
    duration: float
    latencies: dict[str, list[float]]  # status code name -> latencies (s)
    probe: list[float] = field(default_factory=list)  # health probe latencies (s)
    probe_codes: Counter[str] = field(default_factory=Counter)
    setup_errors: Counter[str] = field(default_factory=Counter)

    def merged(self, other: LevelResult) -> LevelResult:
        """This slice's calls and ``other``'s (of the same kind and level) as one result."""
        latencies = {code: list(values) for code, values in self.latencies.items()}
        for code, values in other.latencies.items():
            latencies.setdefault(code, []).extend(values)
        return LevelResult(
            self.kind,
            self.level,
            self.duration + other.duration,
            latencies,
            self.probe + other.probe,
            self.probe_codes + other.probe_codes,
            self.setup_errors + other.setup_errors,
        )


def _probe(address: str, deadline: float, ready: Any, control: Connection) -> None:
    """The probe's process: Health/Check every PROBE_INTERVAL, timestamped; ``ready`` once
    the first check ended. Answers each ``(start, end)`` received with the samples ending in
    that window (then forgets them), and stops at None."""
    samples: list[Sample] = []
    with grpc.insecure_channel(address, options=[OWN_CONNECTION]) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        next_at = time.perf_counter()
        while True:
            if time.perf_counter() >= next_at:
                started = time.perf_counter()
                try:
                    check(HEALTH_CHECK, timeout=deadline)
                    code = "OK"
                except grpc.RpcError as error:
                    code = error.code().name
                ended = time.perf_counter()
                samples.append((ended, ended - started, code))
                ready.set()
                next_at = max(next_at + PROBE_INTERVAL, ended)
            if control.poll(max(0.0, next_at - time.perf_counter())):
                window = control.recv()
                if window is None:
                    return
                start, end = window
                control.send([sample for sample in samples if start <= sample[0] <= end])
                samples = [sample for sample in samples if sample[0] > end]


class Probe(Closing):
    """Health/Check every 10 ms on its own connection, from its own process (so that the
    load's event loop neither delays it nor is slowed by it), until closed. One probe serves
    a whole run: time.perf_counter is the system's monotonic clock, the same in every
    process, so :meth:`window` picks out each slice's checks."""

    def __init__(self, address: str, deadline: float) -> None:
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        self._control, child = context.Pipe()
        self._process = context.Process(
            target=_probe, args=(address, deadline, ready, child), daemon=True
        )
        self._process.start()
        child.close()
        if not ready.wait(CONNECT_TIMEOUT):  # probing before the load starts
            self.close()
            raise BenchmarkError(f"the health probe cannot reach {address}")

    def window(self, start: float, end: float) -> tuple[list[float], Counter[str]]:
        """The latencies and status codes of the checks that ended between start and end."""
        self._control.send((start, end))
        if not self._control.poll(CONNECT_TIMEOUT):
            raise BenchmarkError("the health probe stopped answering")
        samples: list[Sample] = self._control.recv()
        return [latency for _, latency, _ in samples], Counter(code for *_, code in samples)

    def close(self) -> None:
        with suppress(OSError):  # the probe is gone already
            self._control.send(None)
        self._process.join(CONNECT_TIMEOUT)
        if self._process.is_alive():
            self._process.kill()
        self._control.close()


@dataclass
class Load:
    """The closed-loop callers of one kind at one level, and every call they timed."""

    kind: str
    requests: Requests
    until: float  # no call starts after this
    deadline: float
    shed_backoff: float = 0.0  # seconds a caller waits after RESOURCE_EXHAUSTED (jittered)
    samples: list[Sample] = field(default_factory=list)
    setup_errors: Counter[str] = field(default_factory=Counter)  # guess-host's untimed Explains

    async def _timed(self, method: Callable[..., Awaitable[object]], request: Any) -> None:
        started = time.perf_counter()
        try:
            await method(request, timeout=self.deadline)
            code = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        ended = time.perf_counter()
        self.samples.append((ended, ended - started, code))
        if code == "RESOURCE_EXHAUSTED" and self.shed_backoff:
            await asyncio.sleep(self.shed_backoff * random.uniform(0.5, 1.5))

    async def caller(self, channel: grpc.aio.Channel) -> None:
        """One caller: its next call as soon as the last one ended."""
        hat = hatbot_pb2_grpc.HatServiceStub(channel)
        check = health_pb2_grpc.HealthStub(channel).Check
        while time.perf_counter() < self.until:
            if self.kind == "health":
                await self._timed(check, HEALTH_CHECK)
            elif self.kind in ("explain-candidate", "explain-other"):
                await self._timed(hat.Explain, self.requests.explain(self.kind))
            elif self.kind == "guess-unseen":
                await self._timed(hat.Guess, self.requests.unseen_guess())
            else:  # guess-host
                try:
                    explain = self.requests.explain(self.kind)
                    hints = list((await hat.Explain(explain, timeout=self.deadline)).words)
                except grpc.aio.AioRpcError as error:
                    self.setup_errors[error.code().name] += 1
                    continue
                for shown in range(1, len(hints) + 1):
                    if time.perf_counter() >= self.until:
                        break
                    await self._timed(hat.Guess, self.requests.guess(hints[:shown]))


async def _run_level(
    kind: str,
    level: int,
    channels: list[grpc.aio.Channel],
    probe: Probe,
    requests: Requests,
    args: argparse.Namespace,
) -> LevelResult:
    requests.level = (kind, level)
    duration = args.duration / args.rounds
    started = time.perf_counter()
    counted_from = started + args.warmup
    load = Load(kind, requests, counted_from + duration, args.deadline, args.shed_backoff)
    await asyncio.gather(*(load.caller(channels[i % len(channels)]) for i in range(level)))
    probed, probe_codes = probe.window(started, time.perf_counter())
    latencies: dict[str, list[float]] = defaultdict(list)
    for ended, latency, code in load.samples:
        if counted_from <= ended <= load.until:
            latencies[code].append(latency)
    return LevelResult(
        kind, level, duration, dict(latencies), probed, probe_codes, load.setup_errors
    )


def _check_connections(address: str, expected: int) -> None:
    """Fail unless ``ss -tnp`` shows ``expected`` connections of this process to the port."""
    port = address.rsplit(":", 1)[1]
    command = ["ss", "-tnpH", "state", "established", f"( dport = :{port} )"]
    try:
        listing = subprocess.run(command, capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"warning: cannot count connections with ss -tnp: {error}", file=sys.stderr)
        return
    mine = sum(f"pid={os.getpid()}," in line for line in listing.stdout.splitlines())
    if mine < expected:
        raise BenchmarkError(
            f"--channels: {expected} TCP connections to {address} expected (channels and the "
            f"health probe), ss -tnp shows {mine}"
        )
    print(f"{mine} TCP connections to {address} (ss -tnp)", file=sys.stderr)


def channel_options(address: str, client_retries: bool) -> list[tuple[str, int | str]]:
    """The load's channel options: each channel its own connection, and with
    ``client_retries`` the options HatClient makes its channels with."""
    options: list[tuple[str, int | str]] = [OWN_CONNECTION]
    if client_retries:
        options += channel_spec(address, retries=True, tls=None).options
    return options


def pairs(kinds: Sequence[str]) -> list[list[str]]:
    """The kinds measured together, in order: each other kind beside ``health`` (if asked for)."""
    others = [kind for kind in kinds if kind != "health"]
    if "health" not in kinds:
        return [[kind] for kind in others]
    return [list(dict.fromkeys(["health", other])) for other in others or ["health"]]


async def measure(
    address: str, requests: Requests, kinds: list[str], args: argparse.Namespace
) -> tuple[str, list[LevelResult]]:
    """The server's model version and every kind's results at every level."""
    options = channel_options(address, args.client_retries)
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(args.channels)]
    try:
        ready = asyncio.gather(*(channel.channel_ready() for channel in channels))
        try:
            await asyncio.wait_for(ready, CONNECT_TIMEOUT)
        except TimeoutError:
            raise BenchmarkError(
                f"cannot connect to {address} in {CONNECT_TIMEOUT:.0f} s"
            ) from None
        _check_connections(address, args.channels)
        info = hatbot_pb2_grpc.HatServiceStub(channels[0]).GetModelInfo
        try:
            response = await info(hatbot_pb2.GetModelInfoRequest(), timeout=CONNECT_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            raise BenchmarkError(f"GetModelInfo: {error.code().name}: {error.details()}") from None
        results = []
        with Probe(address, args.deadline) as probe:
            for level in args.concurrency:
                for pair in pairs(kinds):
                    slices: dict[str, list[LevelResult]] = {kind: [] for kind in pair}
                    for _ in range(args.rounds):  # the pair's slices alternate
                        for kind in pair:
                            result = await _run_level(kind, level, channels, probe, requests, args)
                            slices[kind].append(result)
                    for kind, done in slices.items():
                        merged = functools.reduce(LevelResult.merged, done)
                        print(f"{kind} at {level}: {_status_codes(merged)}", file=sys.stderr)
                        results.append(merged)
        return response.model.version, results
    finally:
        await asyncio.gather(*(channel.close(None) for channel in channels))


def _start_failure(server: ServerProcess, extra: list[str]) -> BenchmarkError:
    lines = server.log.strip().splitlines()
    reason = ""
    if any("unrecognized arguments" in line and "--workers" in line for line in lines):
        reason = "this hatbot serve has no --workers option (the multi-worker server); "
    tail = "\n".join(lines[-5:])
    command = shlex.join(["hatbot", "serve", *extra])
    return BenchmarkError(f"{reason}the server did not start ({command}); its log ends:\n{tail}")


@contextmanager
def serving(model_dir: Path, extra: list[str]) -> Iterator[str]:
    """A SERVING ``hatbot serve`` on ``model_dir``; its address. Stopped (SIGTERM) at the end."""
    server = ServerProcess(model_dir, *extra)
    try:
        try:
            address = server.wait_serving(START_TIMEOUT)
        except RuntimeError:
            raise _start_failure(server, extra) from None
        yield address
    finally:
        code = server.terminate()  # by pid; killed if it ignores SIGTERM
    if code != 0:
        print(f"warning: the server exited {code} on SIGTERM", file=sys.stderr)


def cold_start(model_dir: Path, extra: list[str]) -> tuple[float, str]:
    """Seconds from starting ``hatbot serve`` to both health services SERVING; model version."""
    started = time.perf_counter()
    server = ServerProcess(model_dir, *extra)
    try:
        try:
            address = server.wait_listening(START_TIMEOUT)
        except RuntimeError:
            raise _start_failure(server, extra) from None
        with grpc.insecure_channel(address) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            pending = ["", SERVICE_NAME]
            while pending:
                if server.proc.poll() is not None or time.perf_counter() > started + START_TIMEOUT:
                    raise _start_failure(server, extra)
                request = health_pb2.HealthCheckRequest(service=pending[0])
                try:
                    status = check(request, timeout=1.0).status
                except grpc.RpcError:
                    status = None
                if status == SERVING:
                    pending.pop(0)
                else:
                    time.sleep(POLL_INTERVAL)
            elapsed = time.perf_counter() - started
            info = hatbot_pb2_grpc.HatServiceStub(channel).GetModelInfo
            version = info(hatbot_pb2.GetModelInfoRequest(), timeout=CONNECT_TIMEOUT).model.version
        return elapsed, version
    finally:
        server.terminate()


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"


def _counts(counts: dict[str, int]) -> str:
    order = sorted(counts, key=lambda code: (code != "OK", code))
    return ", ".join(f"{code} {counts[code]}" for code in order)


def _status_codes(result: LevelResult) -> str:
    text = _counts({code: len(values) for code, values in result.latencies.items()}) or "none"
    if result.probe_codes:
        text += f"; probe: {_counts(result.probe_codes)}"
    if result.setup_errors:
        text += f"; untimed Explain: {_counts(result.setup_errors)}"
    return text


TABLE_HEAD = (
    "| kind | in flight | calls | QPS | p50 ms | p99 ms | p99.9 ms | rejected p99 ms "
    "| probe p99 ms | probe max ms | status codes | QPS of floor | p50 / floor | p99 / floor |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
)


def _qps(result: LevelResult) -> float:
    return len(result.latencies.get("OK", [])) / result.duration


def _of_floor(result: LevelResult, floor: LevelResult | None) -> list[str]:
    """QPS (as a percentage), p50 and p99 of ``result`` over the floor's, if one preceded it."""
    if floor is None or result.kind == "health" or floor.level != result.level or not _qps(floor):
        return ["-"] * 3
    ok, floor_ok = result.latencies.get("OK", []), floor.latencies.get("OK", [])
    cells = [f"{100 * _qps(result) / _qps(floor):.0f}%"]
    for p in (50, 99):
        top, bottom = percentile(ok, p), percentile(floor_ok, p)
        cells.append("-" if top is None or not bottom else f"{top / bottom:.2f}x")
    return cells


def format_table(results: list[LevelResult]) -> str:
    """One Markdown row per kind and level, each compared with the floor measured before it."""
    rows = [TABLE_HEAD]
    floor = None
    for result in results:
        floor = result if result.kind == "health" else floor
        ok = result.latencies.get("OK", [])
        rejected = result.latencies.get("RESOURCE_EXHAUSTED", [])
        calls = sum(len(values) for values in result.latencies.values())
        cells = [
            result.kind,
            str(result.level),
            str(calls),
            f"{_qps(result):.0f}",
            *(_ms(percentile(ok, p)) for p in (50, 99, 99.9)),
            _ms(percentile(rejected, 99)),
            _ms(percentile(result.probe, 99)),
            _ms(max(result.probe, default=None)),
            _status_codes(result),
            *_of_floor(result, floor),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def format_ratios(base: list[LevelResult], other: list[LevelResult]) -> str:
    """QPS, p50 and p99 of ``other`` over ``base``, per kind and level."""

    def ratio(top: float | None, bottom: float | None) -> str:
        return "-" if top is None or not bottom else f"{top / bottom:.2f}"

    rows = ["| kind | in flight | QPS ratio | p50 ratio | p99 ratio |", "|---|---:|---:|---:|---:|"]
    for first, second in zip(base, other, strict=True):
        ok1, ok2 = first.latencies.get("OK", []), second.latencies.get("OK", [])
        qps = f"{ratio(_qps(second), _qps(first))} ({_qps(second):.0f} / {_qps(first):.0f})"
        p50, p99 = (ratio(percentile(ok2, p), percentile(ok1, p)) for p in (50, 99))
        rows.append(f"| {first.kind} | {first.level} | {qps} | {p50} | {p99} |")
    return "\n".join(rows)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def report(args: argparse.Namespace, versions: list[str], sections: list[str]) -> str:
    """The whole Markdown report: what was run, where, and every section."""
    header = [
        "# Serving benchmark",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- machine: {len(os.sched_getaffinity(0))} CPUs (nproc), {cpu_model()}",
        f"- model: {', '.join(dict.fromkeys(versions))}",
        f"- seed: {args.seed}",
    ]
    return "\n".join(header) + "\n\n" + "\n\n".join(sections) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments, checked; ``model`` defaults to ``serve`` and ``extra`` holds the server's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--addr", metavar="HOST:PORT", help="a running hatbot serve")
    target.add_argument("--serve", type=Path, metavar="MODEL_DIR", help="start hatbot serve")
    parser.add_argument("--server-args", default="", help='more serve arguments: ="--workers 2"')
    parser.add_argument("--model", type=Path, help="word lists' model (default: --serve's)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=KINDS,
        default=list(KINDS),
        metavar="KIND",
        help=", ".join(KINDS),
    )
    parser.add_argument(
        "--concurrency",
        nargs="+",
        type=arguments.positive_int,
        default=[1, 8, 32, 128],
        metavar="N",
    )
    parser.add_argument(
        "--duration",
        type=arguments.positive_seconds,
        default=10.0,
        help="seconds counted per kind and level",
    )
    parser.add_argument(
        "--rounds",
        type=arguments.positive_int,
        default=5,
        help="slices the duration is cut into, alternating with the floor's",
    )
    parser.add_argument("--warmup", type=arguments.seconds, default=1.0, help="seconds a slice")
    parser.add_argument("--deadline", type=arguments.positive_seconds, default=1.0, help="seconds")
    parser.add_argument("--channels", type=arguments.positive_int, default=8)
    parser.add_argument(
        "--shed-backoff",
        type=arguments.seconds,
        default=0.0,
        metavar="S",
        help="seconds (jittered x0.5-1.5) a caller waits after RESOURCE_EXHAUSTED, as the "
        "client's documentation advises; 0: its next call at once",
    )
    parser.add_argument(
        "--client-retries",
        action="store_true",
        help="retry RESOURCE_EXHAUSTED and UNAVAILABLE as HatClient does (gRPC's retry policy "
        "and throttling) before the caller sees them",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    parser.add_argument("--dump-requests", type=Path, metavar="FILE", help="JSON lines")
    parser.add_argument("--compare-workers", nargs="+", type=arguments.positive_int, metavar="N")
    parser.add_argument("--cold-start", type=arguments.positive_int, metavar="N")
    args = parser.parse_args(argv)
    if args.addr is not None:
        host, _, port = args.addr.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"--addr: must be HOST:PORT, got {args.addr!r}")
        if args.model is None:
            parser.error("--model: required with --addr")
        for option in ("compare_workers", "cold_start"):
            if getattr(args, option) is not None:
                parser.error(f"--{option.replace('_', '-')}: needs --serve")
    try:
        args.extra = shlex.split(args.server_args)
    except ValueError as error:
        parser.error(f"--server-args: {error}")
    if args.compare_workers and "--workers" in args.extra:
        parser.error("--server-args: --workers is set by --compare-workers")
    for option in ("out", "dump_requests"):
        path = getattr(args, option)
        if path is not None and not path.parent.is_dir():
            parser.error(f"--{option.replace('_', '-')}: no directory {path.parent}")
    args.model = args.model or args.serve
    words = args.model / neighbours.DIRECTORY / neighbours.WORDS
    if not (words.is_file() and (args.model / store.MANIFEST).is_file()):
        parser.error(f"--{'model' if args.addr else 'serve'}: not a model directory: {args.model}")
    return args


def measure_cold_starts(args: argparse.Namespace, extra: list[str], versions: list[str]) -> str:
    """``--cold-start`` starts of a server with ``extra`` arguments, as a report section."""
    times = []
    for _ in range(args.cold_start):
        elapsed, version = cold_start(args.serve, extra)
        print(f"cold start {elapsed:.2f} s", file=sys.stderr)
        times.append(elapsed)
        versions.append(version)
    return (
        f"## Cold start, `{shlex.join(['hatbot', 'serve', *extra])}`\n\n"
        f"{len(times)} starts, process start to both health services SERVING: "
        f"min {min(times):.2f} s, median {statistics.median(times):.2f} s, max {max(times):.2f} s"
    )


def run(args: argparse.Namespace) -> str:
    """Measure what ``args`` ask for; the Markdown report."""
    configs = [args.extra]
    if args.compare_workers:
        configs = [[*args.extra, "--workers", str(n)] for n in args.compare_workers]
    versions: list[str] = []
    if args.cold_start:
        return report(args, versions, [measure_cold_starts(args, c, versions) for c in configs])

    words = read_word_lists(args.model)
    kinds = [kind for kind in KINDS if kind in args.kinds]
    if not words.candidates or ("explain-other" in kinds and not words.others):
        raise BenchmarkError(f"--model: {args.model} lacks candidate or other vocabulary words")
    expected = json.loads((args.model / store.MANIFEST).read_text("utf-8"))["version"]
    log: list[dict[str, Any]] = []
    sections, tables = [], []
    try:
        for run_index, extra in enumerate(configs):
            requests = Requests(words, args.seed, log, run_index)
            with nullcontext(args.addr) if args.addr else serving(args.serve, extra) as address:
                version, results = asyncio.run(measure(address, requests, kinds, args))
            if version != expected:
                print(f"warning: {address} serves {version}, not {expected}", file=sys.stderr)
            versions.append(version)
            tables.append(results)
            title = address if args.addr else shlex.join(["hatbot", "serve", *extra])
            sections.append(f"## `{title}`\n\n{format_table(results)}")
    finally:
        if args.dump_requests:
            store.write_text_atomic(args.dump_requests, "".join(json.dumps(r) + "\n" for r in log))
    for extra, results in zip(configs[1:], tables[1:], strict=True):
        title = f"`{shlex.join(extra)}` over `{shlex.join(configs[0])}`"
        sections.append(f"## {title}\n\n{format_ratios(tables[0], results)}")
    return report(args, versions, sections)


def _interrupt(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)  # asyncio.run turns it into cancellation, then Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in background
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        text = run(args)
    except BenchmarkError as error:
        print(f"serving.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("serving.py: interrupted; the servers it started are stopped", file=sys.stderr)
        return 130
    print(text, end="")
    if args.out:
        store.write_text_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
