"""Progress of long work: a tqdm bar on a terminal, a few log lines elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from hatbot.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


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
    caplog: pytest.LogCaptureFixture, total: int, logged: list[int]
) -> None:
    caplog.set_level(logging.INFO, "hatbot")
    stream = io.StringIO()
    with Progress(total, "turn", stream=stream) as progress:
        for step in range(1, total + 1):
            progress.advance(f"step {step}")
    assert [r.getMessage() for r in caplog.records] == [
        f"turn {n}/{total}: step {n}" for n in logged
    ]
    assert stream.getvalue() == ""
    assert progress.done == total


def test_on_a_terminal_it_draws_a_bar_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "hatbot")
    terminal = Terminal()
    with Progress(12, "turn", unit="turn", stream=terminal) as progress:
        for _ in range(3):
            progress.advance("ours explained 'river'")
    screen = terminal.getvalue()
    assert "\rturn 3/12 |" in screen
    assert "ours explained 'river'" in screen
    assert "turn 4/12" not in screen
    assert caplog.records == []
