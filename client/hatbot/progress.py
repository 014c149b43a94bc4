"""Progress of long work: a tqdm bar on a terminal, a few plain log lines otherwise.

* :class:`Progress` counts the steps of one task (``advance()``, ``update(n)``);
  :func:`track` wraps an iterable in one.
* :class:`Stages` numbers the stages of a long job ("stage 3/9: view sg2") with the job's
  ETA. A Progress made while a Stages is open is part of its current stage and moves it on.

On a terminal (stderr by default) these are tqdm bars, and log lines are printed above them.
Elsewhere (a pipe, a file, CI) INFO lines go to the ``hatbot`` logger: every stage's start,
and for a Progress with a total its first step, its last and each tenth of the way; one
without a total logs every :data:`LOG_SECONDS` and its count at the end. A Progress's
``interval`` (by default its Stages', else 0) spaces its lines at least that many seconds
apart and keeps a task that ends sooner silent, so that a staged job logs a few lines, not
one per tenth of every loop.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any, TextIO, TypeVar

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from hatbot.closing import Closing

T = TypeVar("T")

#: Off a terminal, a Progress with a total logs a line at each tenth of the way.
LOG_STEPS = 10
#: Off a terminal, a Progress without a total logs a line at most this often.
LOG_SECONDS = 30.0
#: The default ``interval`` of the Progresses within a :class:`Stages`.
STAGE_LOG_INTERVAL = 10.0

# The open Stages, if any: a new Progress reports to its current stage.
_stages: Stages | None = None


def duration(seconds: float) -> str:
    """``seconds`` for people: "45s", "3m20s", "1h05m"."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _times(elapsed: float, done: float, total: float | None) -> str:
    """ "12s elapsed, ETA 1m30s": the ETA if the rest goes at the pace so far, when known."""
    shown = f"{duration(elapsed)} elapsed"
    if total is None or done <= 0:
        return shown
    return f"{shown}, ETA {duration(elapsed * max(total - done, 0.0) / done)}"


def _on_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress(Closing):
    """Counts the ``total`` steps (None: unknown) of a task named ``desc``, shown as
    "DESC N/TOTAL".

    On a terminal ``stream`` (stderr by default) it is a tqdm bar with the elapsed time, an ETA
    and the note of the last step; elsewhere ``logger`` logs a few INFO lines (see the module
    for which, and ``interval``).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        *,
        unit: str = "step",
        interval: float | None = None,
        logger: logging.Logger | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.done = 0
        self._stage = _stages
        if interval is None:
            interval = self._stage.interval if self._stage is not None else 0.0
        self.interval = interval
        self._logger = logger or logging.getLogger("hatbot")
        self._started = time.monotonic()
        self._logged_at: float | None = None
        self._closed = False
        self._bar: tqdm[Any] | None = None
        self._redirect = ExitStack()
        stream = stream or sys.stderr
        if _on_terminal(stream):
            if self._stage is None:  # log lines go above the bar while it is drawn
                self._redirect.enter_context(logging_redirect_tqdm())
            counts = "{n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}"
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=stream,
                dynamic_ncols=True,
                leave=self._stage is None,  # a stage's bars make way for the next
                bar_format=(
                    f"{{desc}} {counts}{{postfix}}"
                    if total is not None
                    else "{desc} {n_fmt} {unit} [{elapsed}, {rate_fmt}]{postfix}"
                ),
            )

    def advance(self, note: str = "") -> None:
        """Count one more step done; ``note`` says what it was."""
        self.update(1, note)

    def update(self, steps: int = 1, note: str = "") -> None:
        """Count ``steps`` more steps done; ``note`` says what the last one was."""
        before, self.done = self.done, self.done + steps
        if self._stage is not None and self.total:
            self._stage.part_done(steps / self.total)
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(steps)
        elif self._due(before):
            self._log(note)

    def _due(self, before: int) -> bool:
        now = time.monotonic()
        if now - (self._logged_at or self._started) < self.interval:
            return (
                self.total is not None and self.done >= self.total and self._logged_at is not None
            )
        if self.total is None:
            return self._logged_at is None or now - self._logged_at >= LOG_SECONDS
        return (
            before == 0
            or self.done >= self.total
            or _tenth(self.done, self.total) > _tenth(before, self.total)
            or self.interval > 0  # spaced by time, not by tenths
        )

    def _log(self, note: str = "") -> None:
        self._logged_at = now = time.monotonic()
        times = _times(now - self._started, self.done, self.total)
        count = f"{self.done} {self.unit}" if self.total is None else f"{self.done}/{self.total}"
        self._logger.info("%s %s%s (%s)", self.desc, count, f": {note}" if note else "", times)

    def close(self) -> None:
        """End the task: its bar stays on the terminal unless it is part of a stage; off a
        terminal a task without a total logs its count, if it logged before or took long."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.total is None and (
            self._logged_at is not None or time.monotonic() - self._started >= self.interval
        ):
            self._log("done")
        self._redirect.close()


def _tenth(done: int, total: int) -> int:
    return done * LOG_STEPS // max(total, 1)


def track(
    items: Iterable[T], desc: str, *, total: int | None = None, unit: str = "item"
) -> Iterator[T]:
    """Yield ``items``, counting them in a :class:`Progress` (``total``: ``len(items)`` when
    it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit=unit) as progress:
        for item in items:
            yield item
            progress.advance()


class Stages(Closing):
    """The numbered stages of one long job named ``desc``, with the job's elapsed time and ETA.

    ``stages`` are (name, weight) pairs in order: a stage's weight is its expected share of
    the work in any unit, and the ETA assumes the work left goes at the pace of the work done.
    Call :meth:`start` as each stage begins; a Progress with a total made during a stage moves
    the stage on as it goes (``parts`` such Progresses make up the stage). ``interval`` is the
    default of those Progresses' (see the module).
    """

    def __init__(
        self,
        stages: Sequence[tuple[str, float]],
        desc: str,
        *,
        interval: float = STAGE_LOG_INTERVAL,
        logger: logging.Logger | None = None,
        stream: TextIO | None = None,
    ) -> None:
        global _stages
        self.desc = desc
        self.interval = interval
        self._weights = dict(stages)
        self._names = [name for name, _ in stages]
        self._total = math.fsum(self._weights.values())
        self._logger = logger or logging.getLogger("hatbot")
        self._started = time.monotonic()
        self._finished = 0.0  # weight of the stages before the current one
        self._current: str | None = None
        self._parts = 1
        self._fraction = 0.0  # of the current stage
        self._closed = False
        self._bar: tqdm[Any] | None = None
        self._redirect = ExitStack()
        stream = stream or sys.stderr
        if _on_terminal(stream):
            self._redirect.enter_context(logging_redirect_tqdm())
            self._bar = tqdm(
                total=self._total,
                desc=desc,
                file=stream,
                dynamic_ncols=True,
                smoothing=0,  # the pace of the whole job, as off a terminal
                bar_format="{desc} |{bar}| {percentage:3.0f}% {elapsed}<{remaining}",
            )
        if _stages is None:  # a job within a job (another thread's, say) reports on its own
            _stages = self

    @property
    def done(self) -> float:
        """The weight of the work done."""
        if self._current is None:
            return self._finished
        return self._finished + self._weights[self._current] * min(self._fraction, 1.0)

    def start(self, name: str, parts: int = 1) -> None:
        """Begin the stage ``name`` (one of the declared stages), ending the current one."""
        if name not in self._weights:
            raise ValueError(f"unknown stage {name!r}; declared: {', '.join(self._names)}")
        self._end_current()
        self._current, self._parts, self._fraction = name, max(parts, 1), 0.0
        number = f"stage {self._names.index(name) + 1}/{len(self._names)}"
        if self._bar is not None:
            self._bar.set_description_str(f"{self.desc} {number}: {name}", refresh=False)
            self._show()
        else:
            times = _times(time.monotonic() - self._started, self.done, self._total)
            self._logger.info("%s %s: %s (%s)", self.desc, number, name, times)

    def part_done(self, fraction: float) -> None:
        """Count ``fraction`` more of one of the current stage's parts done."""
        if self._current is not None:
            self._fraction += fraction / self._parts
            self._show()

    def _show(self) -> None:
        if self._bar is not None:  # update() redraws at most every tqdm.mininterval
            self._bar.update(self.done - self._bar.n)

    def _end_current(self) -> None:
        if self._current is not None:
            self._finished += self._weights[self._current]
            self._current = None

    def close(self) -> None:
        """End the job; off a terminal, say so when its last stage was reached."""
        global _stages
        if self._closed:
            return
        self._closed = True
        if _stages is self:
            _stages = None
        complete = self._current is not None and self._current == self._names[-1]
        self._end_current()
        if self._bar is not None:
            self._show()
            self._bar.close()
        elif complete:
            elapsed = duration(time.monotonic() - self._started)
            self._logger.info("%s: %d stages done in %s", self.desc, len(self._names), elapsed)
        self._redirect.close()
