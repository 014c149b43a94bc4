"""Calling a player with a deadline and telling how the call went."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hatbot.game.players import MalformedAnswerError, PlayerTimeoutError, as_word_list

Status = Literal["ok", "timeout", "error", "malformed"]


@dataclass(frozen=True)
class Outcome:
    """How one call went: the answer (empty unless ``status`` is ``"ok"``) and its latency in s."""

    answer: list[str]
    status: Status
    latency: float
    detail: str = ""


class PendingCall:
    """A call to a player, running in its own thread from construction on.

    A daemon thread rather than a pool worker: a player that never returns must neither hold a
    worker that later calls need nor keep the process from exiting.
    """

    def __init__(self, request: Callable[[], object], timeout: float) -> None:
        self.timeout = timeout
        self._done = threading.Event()
        self._answer: object = None
        self._error: Exception | None = None
        self._latency = 0.0
        self._start = time.monotonic()
        threading.Thread(target=self._run, args=(request,), daemon=True).start()

    def _run(self, request: Callable[[], object]) -> None:
        try:
            self._answer = request()
        except Exception as exc:
            self._error = exc
        self._latency = time.monotonic() - self._start
        self._done.set()

    def outcome(self) -> Outcome:
        """Wait until the call ends or its deadline passes, and judge it."""
        if not self._done.wait(max(0.0, self._start + self.timeout - time.monotonic())):
            return Outcome([], "timeout", time.monotonic() - self._start, "no answer in time")
        if self._latency > self.timeout:
            return Outcome([], "timeout", self._latency, "answered after the deadline")
        if isinstance(self._error, PlayerTimeoutError):
            return Outcome([], "timeout", self._latency, str(self._error))
        if isinstance(self._error, MalformedAnswerError):
            return Outcome([], "malformed", self._latency, str(self._error))
        if self._error is not None:
            return Outcome(
                [], "error", self._latency, f"{type(self._error).__name__}: {self._error}"
            )
        try:
            return Outcome(as_word_list(self._answer), "ok", self._latency)
        except MalformedAnswerError as exc:
            return Outcome([], "malformed", self._latency, str(exc))


def call(request: Callable[[], object], timeout: float) -> Outcome:
    """Run ``request`` with a deadline of ``timeout`` seconds."""
    return PendingCall(request, timeout).outcome()
