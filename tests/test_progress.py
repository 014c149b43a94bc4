"""Progress of long work: a tqdm bar on a terminal, a few log lines elsewhere."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from hatbot import progress
from hatbot.progress import Progress, Stages, duration, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """Stands in for time.monotonic in hatbot.progress: ``now`` moves only when told."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        monkeypatch.setattr("hatbot.progress.time.monotonic", lambda: self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """The messages logged to ``hatbot`` so far (read it after the work)."""
    caplog.set_level(logging.INFO, "hatbot")
    logged: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    handler = Collect()
    logging.getLogger("hatbot").addHandler(handler)
    yield logged
    logging.getLogger("hatbot").removeHandler(handler)


def counts(logged: list[str], desc: str) -> list[int]:
    return [int(m.group(1)) for line in logged if (m := re.match(rf"{desc} (\d+)", line))]


@pytest.mark.parametrize(
    ("total", "logged"),
    [
        (1, [1]),
        (4, [1, 2, 3, 4]),
        (10, list(range(1, 11))),
        (24, [1, 3, 5, 8, 10, 12, 15, 17, 20, 22, 24]),
        (1000, [1, *range(100, 1001, 100)]),
    ],
)
def test_off_a_terminal_it_logs_the_first_step_the_last_and_each_tenth(
    lines: list[str], total: int, logged: list[int]
) -> None:
    stream = io.StringIO()
    with Progress(total, "turn", stream=stream) as bar:
        for step in range(1, total + 1):
            bar.advance(f"step {step}")
    assert [line.split(" (")[0] for line in lines] == [
        f"turn {n}/{total}: step {n}" for n in logged
    ]
    assert stream.getvalue() == ""
    assert bar.done == total


def test_a_line_gives_the_elapsed_time_and_the_eta(lines: list[str], clock: Clock) -> None:
    with Progress(4, "epochs", stream=io.StringIO()) as bar:
        clock.now += 30
        bar.advance()
        clock.now += 90
        bar.update(2)
    assert lines == ["epochs 1/4 (30s elapsed, ETA 1m30s)", "epochs 3/4 (2m00s elapsed, ETA 40s)"]


def test_an_interval_spaces_the_lines_and_silences_short_tasks(
    lines: list[str], clock: Clock
) -> None:
    with Progress(100, "quick", interval=10, stream=io.StringIO()) as bar:
        for _ in range(100):
            clock.now += 0.05
            bar.advance()
    assert lines == [], "a task shorter than the interval logs nothing"
    with Progress(100, "slow", interval=10, stream=io.StringIO()) as bar:
        for _ in range(100):
            clock.now += 1
            bar.advance()
    assert counts(lines, "slow") == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def test_without_a_total_it_logs_now_and_then_and_the_count_at_the_end(
    lines: list[str], clock: Clock
) -> None:
    with Progress(None, "reading", unit="documents", stream=io.StringIO()) as bar:
        for _ in range(100):
            clock.now += 1
            bar.advance()
    assert counts(lines, "reading") == [1, 31, 61, 91, 100]
    assert lines[-1] == "reading 100 documents: done (1m40s elapsed)"


def test_track_counts_an_iterable(lines: list[str]) -> None:
    assert list(track(range(5), "rows")) == [0, 1, 2, 3, 4]
    assert counts(lines, "rows") == [1, 2, 3, 4, 5]
    assert lines[-1].startswith("rows 5/5 ")


def test_on_a_terminal_it_draws_a_bar_and_logs_nothing(lines: list[str]) -> None:
    terminal = Terminal()
    with Progress(12, "turn", unit="turn", stream=terminal) as bar:
        for _ in range(3):
            bar.advance("ours explained 'river'")
    screen = terminal.getvalue()
    assert "\rturn 3/12 |" in screen
    assert "ours explained 'river'" in screen
    assert "turn 4/12" not in screen
    assert lines == []


def test_stages_log_their_number_and_the_jobs_eta(lines: list[str], clock: Clock) -> None:
    with Stages([("read", 1), ("train", 3), ("save", 1)], "job", stream=io.StringIO()) as job:
        job.start("read")
        clock.now += 10
        job.start("train")
        with Progress(6, "epochs", stream=io.StringIO()) as epochs:
            for _ in range(6):
                clock.now += 5
                epochs.advance()
            assert job.done == pytest.approx(4)
        job.start("save")
        clock.now += 10
    assert lines[0] == "job stage 1/3: read (0s elapsed)"
    assert lines[1] == "job stage 2/3: train (10s elapsed, ETA 40s)"
    # The six epochs took 30 s for 3 units: an epoch line every 10 s (the stage's interval).
    assert counts(lines, "epochs") == [2, 4, 6]
    assert lines[-2] == "job stage 3/3: save (40s elapsed, ETA 10s)"
    assert lines[-1] == "job: 3 stages done in 50s"


def test_a_stage_of_several_parts_moves_by_each(clock: Clock) -> None:
    with Stages([("tables", 2)], "job", stream=io.StringIO()) as job:
        job.start("tables", parts=4)
        for _ in range(2):
            for _ in track(range(10), "view"):
                pass
        assert job.done == pytest.approx(1.0)
        assert progress._stages is job
    assert progress._stages is None, "closing the job unlinks it"
    with Progress(3, "alone", stream=io.StringIO()) as alone:
        alone.update(3)  # no job to move


def test_a_failed_job_does_not_say_it_is_done(lines: list[str]) -> None:
    def fail() -> None:
        with Stages([("a", 1), ("b", 1)], "job", stream=io.StringIO()) as job:
            job.start("a")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert lines == ["job stage 1/2: a (0s elapsed)"]
    assert progress._stages is None


def test_an_unknown_stage_is_a_programming_error() -> None:
    with (
        Stages([("a", 1)], "job", stream=io.StringIO()) as job,
        pytest.raises(ValueError, match="unknown stage 'b'"),
    ):
        job.start("b")


def test_stages_on_a_terminal_draw_the_job_bar_above_the_stage_bars(lines: list[str]) -> None:
    terminal = Terminal()
    with Stages([("read", 1), ("train", 3)], "train", stream=terminal) as job:
        job.start("read")
        job.start("train")
        with Progress(4, "view main epochs", stream=terminal) as epochs:
            epochs.update(4)
    screen = terminal.getvalue()
    assert "train stage 2/2: train |" in screen
    assert "\rview main epochs 0/4 |" in screen, "the stage's own bar, below the job's"
    assert screen.rstrip().endswith("100% 00:00<00:00"), "the job's bar stays, the stage's goes"
    assert lines == []


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4, "0s"), (59.4, "59s"), (60, "1m00s"), (754, "12m34s"), (3600 + 5 * 60, "1h05m")],
)
def test_duration(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown
