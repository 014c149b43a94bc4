"""The game report page as headless Chromium renders it: content, plots, and no network."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium, find_chromium
from components import missing

from hatbot.game import GameConfig, GameResult, GrpcPlayer, Player, play_game, summarize
from hatbot.game.report import write_report

HOSTILE = "<img src=x onerror=alert(1)>"


class Bot:
    """Explains with hints the host partly drops; names the word at the second hint."""

    def explain(self, word: str, n_words: int) -> list[str]:
        return [word + "s", "bark", "Bark", "kennel", "leash", "collar", "puppy", "walk"]

    def guess(self, words: list[str], n_words: int) -> list[str]:
        return ["river", "dog", "guitar"] if len(words) > 1 else ["cat"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    executable = find_chromium()
    if executable is None:
        missing("install Debian's chromium (apt-get install chromium) to test the report page")
    with Chromium(executable, tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def game(hat_server: str) -> GameResult:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    ours, down = GrpcPlayer(hat_server, 1.0, "soft"), GrpcPlayer(dead, 1.0)
    players: dict[str, Player] = {"ours": ours, HOSTILE: Bot(), "dead": down}
    try:
        return play_game(
            players,
            ["river", "guitar", "bread"],
            GameConfig(seed=3),
            targets={"ours": hat_server, HOSTILE: "py:bots:Bot", "dead": dead},
        )
    finally:
        ours.close()
        down.close()


def rendered(page: Any, selector: str) -> list[dict[str, Any]]:
    """Text and rendered size of every element matching ``selector``."""
    return list(
        page.evaluate(
            f"Array.from(document.querySelectorAll({selector!r})).map(e => {{"
            "const r = e.getBoundingClientRect();"
            "return {text: e.innerText, width: r.width, height: r.height}; })"
        )
    )


def test_the_page_renders_the_game_and_asks_for_nothing(
    browser: Chromium, game: GameResult, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    write_report(path, game)
    page = browser.open(path.as_uri())

    assert page.requests == [path.as_uri()]  # nothing but the page itself
    assert page.evaluate("performance.getEntriesByType('resource').length") == 0

    scoreboard = rendered(page, "#scoreboard tbody tr")
    summaries = summarize(game)
    assert len(scoreboard) == 3
    for row, summary in zip(scoreboard, summaries, strict=True):
        cells = row["text"].split("\t")
        assert cells[1].strip() == summary.player
        assert int(cells[2]) == summary.total
        assert row["height"] > 0
    dead_row = next(row["text"] for row in scoreboard if "dead" in row["text"])
    assert "unavailable" in dead_row

    availability = rendered(page, "#availability tbody tr.unavailable")
    assert len(availability) == 1
    assert "unavailable: never answered" in availability[0]["text"]
    assert "Connection refused" in availability[0]["text"]

    words = rendered(page, "#words tbody tr")
    assert [row["text"].split("\t")[1] for row in words] == [t.word for t in game.turns]
    hostile_turn = next(row["text"] for row in words if row["text"].split("\t")[2] == HOSTILE)
    assert "contains the word" in hostile_turn  # "rivers" for "river", say
    assert "a repeat" in hostile_turn
    assert "beyond n_explain" in hostile_turn

    plots = rendered(page, "figure > svg")
    assert len(plots) == 3
    assert all(plot["width"] > 300 and plot["height"] > 100 for plot in plots)

    # The hostile name is text on the page, not an element.
    assert page.evaluate("document.querySelectorAll('img, script, iframe').length") == 0
    chips = page.evaluate("Array.from(document.querySelectorAll('.chip')).map(e => e.innerText)")
    assert HOSTILE in chips


def test_the_checks_see_a_page_that_reaches_for_the_network(
    browser: Chromium, tmp_path: Path
) -> None:
    """The network check can fail: a page loading an image from elsewhere is caught."""
    path = tmp_path / "leaky.html"
    path.write_text('<!DOCTYPE html><p>hi</p><img src="http://example.invalid/pixel.png">')
    page = browser.open(path.as_uri())
    assert page.requests == [path.as_uri(), "http://example.invalid/pixel.png"]
