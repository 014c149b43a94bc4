"""Measure what one hatbot pod needs: memory (page cache included) and CPU, at rest, under load
and during a model reload. The figures behind the resources of deploy/kubernetes/.

    python deploy/measure.py --model var/models/20news [--workers 2] [--threads 4] \\
        [--seconds 20] [--limit-mib 3584]

The model is copied twice into a fresh model root (ROOT/1, later ROOT/2, as an operator rolls
a new version) and dropped from the page cache, so that the server faults every page in itself.
As root the server runs in a memory cgroup of its own (v1 or v2, under this process's one, with
``--limit-mib`` as its limit if given), which is charged what the kubelet would count against a
container's limit: anonymous memory *and* the page cache of the model files it touched. Without
a writable cgroup, only the processes' RSS and PSS (from /proc/PID/smaps_rollup) are reported.

Phases: start to SERVING; ``--seconds`` of closed-loop load (``--threads`` callers, each on its
own connection, Guess of random candidate words and Explain, 1 s deadline); the same load while
ROOT/2 is copied in and SIGHUP makes every worker load it. Printed per phase: the cgroup's peak
charge (anonymous, page cache), the sum of PSS and each process's RSS/PSS, CPU seconds per
second of the server's processes, calls made and failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from hatbot.models import store
from hatbot.server.process import ServerProcess
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

MIB = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")


def evict(directory: Path) -> None:
    """Drop ``directory``'s files from the page cache (nobody else maps this copy)."""
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def copy_version(model: Path, root: Path, version: int) -> Path:
    """Publish a copy of ``model`` as ``root/version`` by a rename, out of the page cache.

    Past version 1 the copy is relabelled ``MODEL-VERSION-rN`` (its manifest and the lookup
    tables' record of the version, whose digest the manifest holds), since the server skips
    a version it serves already.
    """
    staged = root / f".{version}.staging"
    shutil.copytree(model, staged)
    if version > 1:
        manifest = json.loads((staged / store.MANIFEST).read_text("utf-8"))
        manifest["version"] = f"{manifest['version']}-r{version}"
        meta_path = staged / "strategy" / "lookup" / "meta.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text("utf-8"))
            meta["model_version"] = manifest["version"]
            store.write_text_atomic(meta_path, json.dumps(meta, indent=2))
            manifest["files"]["strategy/lookup/meta.json"] = store.file_sha256(meta_path)
        store.write_text_atomic(staged / store.MANIFEST, json.dumps(manifest, indent=2))
    evict(staged)
    return staged.rename(root / str(version))


class MemoryCgroup:
    """A memory cgroup below this process's own (cgroup v2 or v1 memory controller)."""

    def __init__(self, name: str, limit_mib: int | None) -> None:
        self.v2 = Path("/sys/fs/cgroup/cgroup.controllers").is_file()
        own = self._own()
        self.parent = own
        self.path = own / name
        self.path.mkdir()
        try:
            self.stat()  # the memory controller is there
            if limit_mib is not None:
                limit = str(limit_mib * MIB)
                limit_file = "memory.max" if self.v2 else "memory.limit_in_bytes"
                (self.path / limit_file).write_text(limit)
        except (OSError, KeyError) as error:
            self.remove()
            raise OSError(f"{self.path}: no usable memory controller ({error!r})") from None

    def _own(self) -> Path:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            number, controllers, path = line.split(":", 2)
            if self.v2 and number == "0":
                return Path("/sys/fs/cgroup") / path.lstrip("/")
            if not self.v2 and "memory" in controllers.split(","):
                return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        raise OSError("no memory cgroup in /proc/self/cgroup")

    def join(self, where: Path) -> None:
        """Move this process into ``where`` (children forked meanwhile stay there)."""
        (where / "cgroup.procs").write_text(str(os.getpid()))

    def stat(self) -> dict[str, int]:
        """The charge now: ``usage``, ``anon`` and ``cache`` bytes, and ``peak`` so far."""
        fields = dict(line.split() for line in (self.path / "memory.stat").read_text().splitlines())
        if self.v2:
            usage = int((self.path / "memory.current").read_text())
            peak_file = self.path / "memory.peak"
            peak = int(peak_file.read_text()) if peak_file.exists() else usage
            return {
                "usage": usage,
                "peak": peak,
                "anon": int(fields["anon"]),
                "cache": int(fields["file"]),
            }
        return {
            "usage": int((self.path / "memory.usage_in_bytes").read_text()),
            "peak": int((self.path / "memory.max_usage_in_bytes").read_text()),
            "anon": int(fields["total_rss"]),
            "cache": int(fields["total_cache"]),
        }

    def reset_peak(self) -> None:
        """Start a new peak (v1 only; v2's memory.peak resets on write since Linux 6.12)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        with suppress(OSError):
            (self.path / name).write_text("0")

    def events(self) -> str:
        """Limit hits and OOM kills so far."""
        if self.v2:
            return " ".join((self.path / "memory.events").read_text().split())
        failcnt = (self.path / "memory.failcnt").read_text().strip()
        oom = " ".join((self.path / "memory.oom_control").read_text().split())
        return f"failcnt {failcnt}; {oom}"

    def remove(self) -> None:
        """Remove the cgroup once its last process is gone (killed workers take a moment to be
        reaped); bounded to 10 s, then it says what it left."""
        deadline = time.monotonic() + 10
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as error:
                if time.monotonic() > deadline:
                    print(f"could not remove {self.path}: {error}", file=sys.stderr)
                    return
                time.sleep(0.1)


def group_pids(root_pid: int) -> list[int]:
    """``root_pid`` and its descendants (workers, a canary), from /proc."""
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        with suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return found


def smaps(pid: int) -> dict[str, int]:
    """RSS, PSS and their anonymous/file parts of ``pid`` in bytes (empty once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines()[1:]:
        name, value, *_ = line.split()
        values[name.rstrip(":")] = int(value) * 1024
    return values


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (those still alive)."""
    total = 0
    for pid in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


@dataclass
class Peak:
    """The largest figures seen by :func:`sample` during one phase."""

    pss_sum: int = 0
    per_process: dict[int, dict[str, int]] = field(default_factory=dict)
    cgroup: dict[str, int] = field(default_factory=dict)


def sample(server: ServerProcess, cgroup: MemoryCgroup | None, peak: Peak) -> None:
    """Fold the current memory of the server's processes into ``peak``."""
    pids = group_pids(server.proc.pid)
    rollups = {pid: smaps(pid) for pid in pids}
    pss = sum(r.get("Pss", 0) for r in rollups.values())
    if pss > peak.pss_sum:
        peak.pss_sum = pss
        peak.per_process = rollups
    if cgroup is not None:
        now = cgroup.stat()
        for key, value in now.items():
            peak.cgroup[key] = max(peak.cgroup.get(key, 0), value)


@dataclass
class Load:
    """Closed-loop callers on their own connections until stopped (bounded by ``max_calls``)."""

    address: str
    words: list[str]
    threads: int
    max_calls: int = 1_000_000
    codes: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _call(self, seed: int) -> None:
        rng = random.Random(seed)
        with grpc.insecure_channel(self.address) as channel:
            stub = hatbot_pb2_grpc.HatServiceStub(channel)
            for _ in range(self.max_calls):
                if self.stop.is_set():
                    return
                started = time.perf_counter()
                try:
                    if rng.random() < 0.3:
                        request = hatbot_pb2.ExplainRequest(word=rng.choice(self.words), n_words=5)
                        version = stub.Explain(request, timeout=1.0).model_version
                    else:
                        hints = rng.sample(self.words, rng.randint(1, 3))
                        guess = hatbot_pb2.GuessRequest(words=hints, n_words=5)
                        version = stub.Guess(guess, timeout=1.0).model_version
                    self.latencies.append(time.perf_counter() - started)
                    self.codes["OK"] += 1
                    self.versions[version] += 1
                except grpc.RpcError as error:
                    self.codes[error.code().name] += 1

    @contextmanager
    def running(self) -> Iterator[Load]:
        callers = [threading.Thread(target=self._call, args=(i,)) for i in range(self.threads)]
        for caller in callers:
            caller.start()
        try:
            yield self
        finally:
            self.stop.set()
            for caller in callers:
                caller.join(10)


def report(title: str, peak: Peak, cpu: float | None = None, load: Load | None = None) -> None:
    print(f"\n## {title}")
    if peak.cgroup:
        c = peak.cgroup
        print(
            f"cgroup charge: peak {c['peak'] / MIB:.0f} MiB (sampled max: anon "
            f"{c['anon'] / MIB:.0f} MiB, page cache {c['cache'] / MIB:.0f} MiB)"
        )
    print(f"sum of PSS at its peak: {peak.pss_sum / MIB:.0f} MiB")
    for pid, r in sorted(peak.per_process.items()):
        if r:
            print(
                f"  pid {pid}: RSS {r['Rss'] / MIB:.0f} MiB, PSS {r['Pss'] / MIB:.0f} MiB "
                f"(anon {r.get('Pss_Anon', 0) / MIB:.0f}, file {r.get('Pss_File', 0) / MIB:.0f})"
            )
    if cpu is not None:
        print(f"server CPU: {cpu:.2f} cores")
    if load is not None:
        print(f"calls: {sum(load.codes.values())}, codes {dict(load.codes)}")
        ms = sorted(1000 * x for x in load.latencies) or [0.0]
        print(
            f"latency of OK calls: p50 {ms[len(ms) // 2]:.1f} ms, p99 "
            f"{ms[int(len(ms) * 0.99)]:.1f} ms, max {ms[-1]:.1f} ms"
        )
        print(f"answered by version: {dict(load.versions)}")


def watch(
    server: ServerProcess,
    cgroup: MemoryCgroup | None,
    peak: Peak,
    until: threading.Event,
    limit: float,
) -> None:
    """Sample every 0.1 s until ``until`` is set or ``limit`` seconds passed."""
    deadline = time.monotonic() + limit
    while not until.is_set() and time.monotonic() < deadline:
        sample(server, cgroup, peak)
        time.sleep(0.1)
    sample(server, cgroup, peak)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model directory to copy")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="closed-loop callers")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load phase")
    parser.add_argument("--limit-mib", type=int, help="the cgroup's memory limit")
    args = parser.parse_args()
    words = (args.model / "strategy" / "words.txt").read_text().split()
    with tempfile.TemporaryDirectory(prefix="hatbot-measure-") as scratch:
        root = Path(scratch) / "models"
        root.mkdir()
        copy_version(args.model, root, 1)
        cgroup: MemoryCgroup | None = None
        try:
            cgroup = MemoryCgroup(f"hatbot-measure-{os.getpid()}", args.limit_mib)
            cgroup.join(cgroup.path)
        except OSError as error:  # not root, or a cgroup v2 parent without the controller
            print(f"no memory cgroup ({error}): RSS/PSS only", file=sys.stderr)
            if cgroup is not None:
                cgroup.remove()
            cgroup = None
        started = time.monotonic()
        try:
            server = ServerProcess(
                None, "--model-root", str(root), "--workers", str(args.workers), "--grace", "5"
            )
        finally:
            if cgroup is not None:
                cgroup.join(cgroup.parent)
        try:
            return run(args, server, cgroup, root, words, started)
        finally:
            server.kill()
            if cgroup is not None:
                print(f"\ncgroup events: {cgroup.events()}")
                cgroup.remove()


def run(
    args: argparse.Namespace,
    server: ServerProcess,
    cgroup: MemoryCgroup | None,
    root: Path,
    words: list[str],
    started: float,
) -> int:
    peak = Peak()
    ready = threading.Event()
    sampler = threading.Thread(target=watch, args=(server, cgroup, peak, ready, 300))
    sampler.start()
    try:
        address = server.wait_serving(timeout=300)
    finally:
        ready.set()
        sampler.join()
    print(f"workers {args.workers}, model {args.model}")
    report(f"start to SERVING: {time.monotonic() - started:.1f} s", peak)

    peak = Peak()
    if cgroup is not None:
        cgroup.reset_peak()
    pids = group_pids(server.proc.pid)
    load = Load(address, words, args.threads)
    done = threading.Event()
    with load.running():
        cpu_before, t0 = cpu_seconds(pids), time.monotonic()
        watch(server, cgroup, peak, done, args.seconds)
        cpu = (cpu_seconds(pids) - cpu_before) / (time.monotonic() - t0)
    report(f"{args.threads} callers for {args.seconds:.0f} s", peak, cpu, load)

    peak = Peak()
    if cgroup is not None:
        cgroup.reset_peak()
    load = Load(address, words, args.threads)
    loaded = threading.Event()
    with load.running():
        sampler = threading.Thread(target=watch, args=(server, cgroup, peak, loaded, 300))
        sampler.start()
        t0 = time.monotonic()
        copy_version(args.model, root, 2)
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 300
        new = store.read_manifest(root / "2").version
        while f"serving model {new} from" not in server.log and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        time.sleep(1.0)  # the old version's pages are unmapped; see what stays charged
        loaded.set()
        sampler.join()
    report(f"copy ROOT/2 + SIGHUP until every worker serves it: {elapsed:.1f} s", peak, None, load)
    if cgroup is not None:
        now = cgroup.stat()
        print(
            f"after the reload: charge {now['usage'] / MIB:.0f} MiB (anon {now['anon'] / MIB:.0f},"
            f" page cache {now['cache'] / MIB:.0f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
