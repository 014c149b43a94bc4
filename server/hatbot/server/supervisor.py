"""The parent of a server's worker processes: starts them, keeps them running, moves them to
new model versions and stops them.

Workers are forked before any gRPC server exists in this process (grpc's
``examples/python/multiprocessing``); the parent itself runs no gRPC. It imports what the
workers need first, so their code and libraries stay shared pages. A worker that dies is
restarted (sooner or later, by how long it had lived). A new model version is first checked
in a throwaway *canary* process (the manifest's digests, a full load and warm-up, one answer
of each kind); only then are the workers told to load it, each swapping it in whole. On
SIGTERM the workers drain and the parent exits 0 once they all have.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from hatbot.server import versions
from hatbot.server.metrics import Metrics
from hatbot.server.worker import Worker, WorkerSettings, load_answerer

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_FORK = multiprocessing.get_context("fork")
#: A worker that dies younger than this is restarted after a growing delay (up to 30 s).
_STABLE_SECONDS = 10.0


class ServeError(Exception):
    """The server cannot serve: a model that does not load, a port it cannot bind."""


@dataclass(frozen=True)
class ModelSource:
    """Where the served model comes from: one directory, or the newest version of a root."""

    directory: Path | None = None
    root: Path | None = None

    def newest(self) -> Path | None:
        """The directory to serve now; None while a root has no complete version."""
        return self.directory if self.root is None else versions.newest(self.root)


@dataclass
class _Child:
    """A child process with its end of the pipe to it."""

    number: int
    process: BaseProcess
    control: Connection
    started: float = field(default_factory=time.monotonic)
    directory: Path | None = None  # the model it serves (workers) or checks (canary)
    version: str | None = None  # the model version it reported serving


def _child_main(
    body: Callable[[Connection], int], control: Connection, inherited: list[Any]
) -> None:
    """Start of every child: drop the parent's descriptors and signal set-up, then run."""
    for handle in inherited:
        handle.close()  # a copy of another child's pipe would hide the parent's exit from it
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads are the parent's business
    for name in (signal.SIGTERM, signal.SIGINT):
        signal.signal(name, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    sys.exit(body(control))


def _canary(directory: Path, settings: WorkerSettings, control: Connection) -> int:
    """Check a model version as a worker would serve it; report on ``control``."""
    try:
        manifest = versions.verify(directory)
        answerer = load_answerer(directory, settings)
        hints = answerer.explain("water", 5) + answerer.explain("computer", 5)
        answerer.guess(hints or ["water"], 5)
    except Exception as error:  # everything a version can get wrong is a refusal
        control.send({"refused": f"{type(error).__name__}: {error}"})
        return 1
    control.send({"ok": manifest.version})
    return 0


class Supervisor:
    """Runs ``workers`` worker processes serving ``source`` with ``settings``.

    ``prepare`` (training a missing default model) runs in a child process while the workers
    already report NOT_SERVING. With ``poll`` seconds, the model root is checked for a new
    version that often, besides on SIGHUP.
    """

    def __init__(
        self,
        workers: int,
        settings: WorkerSettings,
        source: ModelSource,
        *,
        prepare: Callable[[], object] | None = None,
        poll: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.count = workers
        self.metrics = metrics
        self.settings = settings
        self.source = source
        self.prepare = prepare
        self.poll = poll
        self.workers: dict[int, _Child] = {}
        self.model: Path | None = None  # the version every worker is told to serve
        self.serving: str | None = None  # its manifest version, once a worker serves it
        self._canary: _Child | None = None
        self._trainer: _Child | None = None
        self._refused: set[tuple[Path, float]] = set()
        self._canary_stamp: tuple[Path, float] | None = None
        self._announced: str | None = None
        self._restart_at: dict[int, float] = {}
        self._restarts: dict[int, int] = {}
        self._stopping_since: float | None = None
        self._next_poll = 0.0
        self._failure: str | None = None
        self._signals: list[int] = []
        self._wakeup_read, self._wakeup_write = socket.socketpair()

    # -- processes -------------------------------------------------------------------------

    def _fork(self, number: int, name: str, body: Callable[[Connection], int]) -> _Child:
        parent_end, child_end = multiprocessing.Pipe()
        inherited: list[Any] = [parent_end, self._wakeup_read, self._wakeup_write]
        inherited += [child.control for child in self._children()]
        process = _FORK.Process(
            target=_child_main, args=(body, child_end, inherited), name=name, daemon=False
        )
        # Everything imported so far lives as long as the process: out of the collector's
        # sight, a child's full collections neither take ~50 ms (holding the GIL) to walk
        # it nor write to its pages, which would unshare them (Python's gc.freeze advice).
        gc.freeze()
        # Signals stay blocked until the child has its own handlers.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        child_end.close()
        return _Child(number, process, parent_end)

    def _children(self) -> list[_Child]:
        others = [self._canary, self._trainer]
        return [*self.workers.values(), *(child for child in others if child is not None)]

    def _start_worker(self, number: int) -> None:
        def body(control: Connection) -> int:
            return Worker(number, self.settings, control, self.metrics).run()

        worker = self._fork(number, f"worker-{number}", body)
        self.workers[number] = worker
        if self.model is not None:
            self._order_load(worker)

    def _order_load(self, worker: _Child) -> None:
        assert self.model is not None
        worker.directory = self.model
        with contextlib.suppress(OSError):  # it died; its exit is handled like any other
            worker.control.send({"load": str(self.model)})

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT and every worker has drained; the exit code."""
        self._wakeup_read.setblocking(False)
        self._wakeup_write.setblocking(False)
        signal.set_wakeup_fd(self._wakeup_write.fileno(), warn_on_full_buffer=False)
        for name in _SIGNALS:
            signal.signal(name, self._on_signal)
        log.info("starting %d worker process(es), pid %d", self.count, os.getpid())
        for number in range(1, self.count + 1):
            self._start_worker(number)
        if self.prepare is not None:
            prepare = self.prepare

            def train(_control: Connection) -> int:
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # cleans the staging dir
                prepare()
                return 0

            self._trainer = self._fork(0, "trainer", train)
        else:
            self._serve_newest()
        while self.workers or self._trainer or self._canary:
            self._step()
        if self._failure is not None:
            raise ServeError(self._failure)
        log.info("stopped")
        return 0

    def _step(self) -> None:
        now = time.monotonic()
        timers = [*self._restart_at.values()]
        if self.poll and self._stopping_since is None:
            timers.append(self._next_poll)
        if self._stopping_since is not None:
            timers.append(self._stopping_since + self._stop_budget())
        timeout = max(0.0, min(timers) - now) if timers else None
        handles: list[Any] = [self._wakeup_read]
        for child in self._children():
            handles += [child.control, child.process.sentinel]
        for ready in wait(handles, timeout):
            if ready is self._wakeup_read:
                self._drain_wakeups()
                continue
            for child in self._children():
                if ready is child.control:
                    self._receive(child)
                elif ready == child.process.sentinel:
                    self._reap(child)
        self._timers()

    def _drain_wakeups(self) -> None:
        try:
            while self._wakeup_read.recv(512):
                pass
        except BlockingIOError:
            pass
        signals, self._signals = self._signals, []
        for signum in signals:
            if signum == signal.SIGHUP:
                log.info("received SIGHUP: looking for a new model version")
                self._check_for_update()
            else:
                self._begin_stop(signal.Signals(signum).name)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)
        if signum != signal.SIGHUP:
            # The stop is bounded; repeats have nothing to add, and Python restores default
            # handlers at exit, where a repeat would turn exit 0 into -15.
            for name in (signal.SIGTERM, signal.SIGINT):
                signal.signal(name, signal.SIG_IGN)

    def _timers(self) -> None:
        now = time.monotonic()
        for number, when in list(self._restart_at.items()):
            if now >= when:
                del self._restart_at[number]
                self._start_worker(number)
        if self.poll and self._stopping_since is None and now >= self._next_poll:
            self._next_poll = now + self.poll
            self._check_for_update()
        if self._stopping_since is not None and now >= self._stopping_since + self._stop_budget():
            for child in self._children():
                if child.process.is_alive():
                    log.error(
                        "%s (pid %s) did not stop in time: killing it",
                        child.process.name,
                        child.process.pid,
                    )
                    child.process.kill()
            self._failure = self._failure or "worker processes did not stop in time"

    def _stop_budget(self) -> float:
        return self.settings.drain_delay + 2 * self.settings.grace + 10.0

    def _begin_stop(self, reason: str) -> None:
        if self._stopping_since is not None:
            return
        log.info("received %s, shutting down", reason)
        self._stopping_since = time.monotonic()
        self._restart_at.clear()
        for child in self._children():
            if child.process.is_alive() and child.process.pid is not None:
                os.kill(child.process.pid, signal.SIGTERM)

    def _fail(self, message: str) -> None:
        """Stop everything because the server cannot serve."""
        if self._failure is None:
            self._failure = message
        self._begin_stop("a fatal error")

    # -- messages and exits ----------------------------------------------------------------

    def _receive(self, child: _Child) -> None:
        try:
            message = child.control.recv()
        except (EOFError, OSError):
            return  # its exit follows
        if child is self._canary:
            self._canary_result(child, message)
        elif "loaded" in message:
            self._loaded(child, message["version"])
        elif "failed" in message:
            self._load_failed(child, message)

    def _loaded(self, worker: _Child, version: str) -> None:
        worker.version = version
        if worker.directory != self.model:
            return  # an order overtaken by a newer one
        self.serving = version
        if self._announced != version and all(
            other.version == version for other in self.workers.values()
        ):
            if self._announced is not None and self.metrics is not None:
                self.metrics.reloads.labels("loaded").inc()
            self._announced = version
            log.info(
                "serving model %s from %s in %d worker(s)", version, self.model, len(self.workers)
            )

    def _load_failed(self, worker: _Child, message: dict[str, str]) -> None:
        error = message["error"]
        if not message["failed"] or self.serving is None:  # it cannot serve at all
            self._fail(error if not message["failed"] else f"cannot load {self.model}: {error}")
        else:
            if self.metrics is not None:
                self.metrics.reloads.labels("failed").inc()
            log.error(
                "worker %d cannot load %s (%s); it keeps its model",
                worker.number,
                message["failed"],
                error,
            )

    def _reap(self, child: _Child) -> None:
        child.process.join(5)  # its pipe closes just before it can be reaped
        code = child.process.exitcode
        child.control.close()
        if self.metrics is not None and child.process.pid is not None:
            self.metrics.process_exited(child.process.pid)
        if child is self._trainer:
            self._trainer = None
            if code == 0 and self._stopping_since is None:
                self._serve_newest()
            elif self._stopping_since is None:
                self._fail(f"training the default model failed (exit {code})")
            return
        if child is self._canary:
            self._canary = None
            return
        del self.workers[child.number]
        if self._stopping_since is not None:
            return
        lived = time.monotonic() - child.started
        restarts = self._restarts[child.number] = self._restarts.get(child.number, 0) + 1
        if self.metrics is not None:
            self.metrics.restarts.inc()
        delay = 0.0 if lived >= _STABLE_SECONDS else min(30.0, 0.5 * 2 ** min(restarts, 6))
        log.warning(
            "worker %d (pid %s) exited with %s after %.1fs; restarting it in %.1fs (restart %d)",
            child.number,
            child.process.pid,
            signal.Signals(-code).name if code is not None and code < 0 else f"code {code}",
            lived,
            delay,
            restarts,
        )
        self._restart_at[child.number] = time.monotonic() + delay

    # -- model versions --------------------------------------------------------------------

    def _serve_newest(self) -> None:
        newest = self.source.newest()
        if newest is None:
            self._fail(f"no complete model version under {self.source.root}")
            return
        self.model = newest
        for worker in self.workers.values():
            self._order_load(worker)

    def _check_for_update(self) -> None:
        if self._canary is not None or self.serving is None or self._stopping_since is not None:
            return
        newest = self.source.newest()
        if newest is None:
            return
        try:
            stamp = (newest, (newest / "manifest.json").stat().st_mtime)
        except OSError:
            return
        if stamp in self._refused or (newest == self.model and self._unchanged(newest)):
            return
        settings = self.settings

        def check(control: Connection) -> int:
            return _canary(newest, settings, control)

        self._canary = self._fork(0, "canary", check)
        self._canary.directory = newest
        self._canary_stamp = stamp

    def _unchanged(self, directory: Path) -> bool:
        from hatbot.models import store

        try:
            return store.read_manifest(directory).version == self.serving
        except (OSError, ValueError):
            return True

    def _canary_result(self, canary: _Child, message: dict[str, str]) -> None:
        directory = canary.directory
        assert directory is not None
        if "refused" in message:
            assert self._canary_stamp is not None
            self._refused.add(self._canary_stamp)
            if self.metrics is not None:
                self.metrics.reloads.labels("refused").inc()
            log.error(
                "refused model version %s: %s; still serving %s",
                directory,
                message["refused"],
                self.serving,
            )
            return
        log.info(
            "model version %s (%s) checked: loading it in every worker", directory, message["ok"]
        )
        self.model = directory
        for worker in self.workers.values():
            self._order_load(worker)
