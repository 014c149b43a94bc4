"""Per-player results: points, success, availability and latency percentiles."""

from __future__ import annotations

from typing import Any

import pytest

from hatbot.game import (
    CallRecord,
    GameConfig,
    GameResult,
    PlayerSummary,
    TurnRecord,
    format_failures,
    format_table,
    play_game,
    summarize,
)
from hatbot.game.calls import Status
from hatbot.game.records import Role
from hatbot.game.summary import percentile


def call(player: str, role: Role, latency: float, status: Status = "ok") -> CallRecord:
    return CallRecord(1, 1, "dog", player, role, 0 if role == "explain" else 1, {}, [], status,
                      latency, None)  # fmt: skip


def turn(explainer: str, guessed_at: dict[str, int], others: list[str]) -> TurnRecord:
    points = {name: 6 - guessed_at[name] if name in guessed_at else 0 for name in others}
    points[explainer] = sum(points.values())
    return TurnRecord(1, 1, "dog", explainer, [], guessed_at, points)


@pytest.fixture
def result() -> GameResult:
    turns = [
        turn("a", {"b": 1, "c": 4}, ["b", "c"]),  # b 5, c 2, a 7
        turn("b", {"a": 2}, ["a", "c"]),  # a 4, c 0, b 4
        turn("c", {"a": 3, "b": 3}, ["a", "b"]),  # a 3, b 3, c 6
        turn("a", {}, ["b", "c"]),  # nobody
    ]
    calls = [
        call("a", "explain", 0.010),
        call("a", "explain", 0.030),
        call("a", "explain", 0.020, "error"),
        *(call("a", "guess", latency / 1000) for latency in range(1, 101)),
        call("b", "explain", 0.5, "timeout"),
        call("b", "guess", 0.2, "malformed"),
        call("b", "guess", 0.1),
        call("b", "guess", 0.3, "timeout"),
    ]
    return GameResult(GameConfig(), ["a", "b", "c"], calls, turns)


def by_player(result: GameResult) -> dict[str, PlayerSummary]:
    return {summary.player: summary for summary in summarize(result)}


def test_points_are_split_into_explaining_and_guessing(result: GameResult) -> None:
    summaries = by_player(result)
    assert [(s.explain_points, s.guess_points, s.total) for s in summaries.values()] == [
        (7, 7, 14),
        (4, 8, 12),
        (6, 2, 8),
    ]


def test_summaries_come_best_total_first(result: GameResult) -> None:
    assert [s.player for s in summarize(result)] == ["a", "b", "c"]
    result.turns.append(turn("c", {"b": 1}, ["a", "b"]))  # b 5, c 5
    assert [s.player for s in summarize(result)] == ["b", "a", "c"]


def test_words_guessed_and_mean_attempt(result: GameResult) -> None:
    summaries = by_player(result)
    assert (summaries["a"].words_guessed, summaries["a"].mean_attempt) == (2, 2.5)
    assert (summaries["b"].words_guessed, summaries["b"].mean_attempt) == (2, 2)
    assert (summaries["c"].words_guessed, summaries["c"].mean_attempt) == (1, 4)


def test_availability_is_the_share_of_calls_answered_in_time_and_well_formed(
    result: GameResult,
) -> None:
    summaries = by_player(result)
    assert summaries["a"].availability == pytest.approx(102 / 103)
    assert summaries["b"].availability == pytest.approx(1 / 4)
    assert summaries["c"].availability is None


def test_latency_percentiles_per_kind_of_call(result: GameResult) -> None:
    a, b, c = (by_player(result)[name] for name in "abc")
    assert a.latency_p50 == {"explain": 0.020, "guess": pytest.approx(0.050)}
    assert a.latency_p99 == {"explain": 0.030, "guess": pytest.approx(0.099)}
    assert b.latency_p50 == {"explain": 0.5, "guess": 0.2}
    assert b.latency_p99 == {"explain": 0.5, "guess": 0.3}
    assert c.latency_p50 == {"explain": None, "guess": None}


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([3.0], 50, 3.0),
        ([3.0], 99, 3.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 99, 4.0),
        ([float(i) for i in range(1, 1001)], 99, 990.0),
        ([float(i) for i in range(1, 1001)], 100, 1000.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: Any) -> None:
    assert percentile(values, p) == expected


def test_the_table_has_a_row_per_player_in_order(result: GameResult) -> None:
    lines = format_table(summarize(result)).splitlines()
    assert lines[0].split()[:5] == ["player", "total", "explain", "guess", "guessed"]
    assert [line.split() for line in lines[1:]] == [
        ["a", "14", "7", "7", "2", "2.50", "99.0%", "20/30", "50/99"],
        ["b", "12", "4", "8", "2", "2.00", "25.0%", "500/500", "200/300"],
        ["c", "8", "6", "2", "1", "4.00", "-", "-", "-"],
    ]
    assert len({len(line) for line in lines}) <= 2  # aligned columns; the last may be shorter


class Echo:
    def __init__(self, after: int) -> None:
        self.after = after

    def explain(self, word: str, n_words: int) -> list[str]:
        return ["animal", "bark", "puppy", "leash", "kennel"]

    def guess(self, words: list[str], n_words: int) -> list[str]:
        return ["dog"] if len(words) >= self.after else []


def test_a_played_game_sums_up_consistently() -> None:
    players = {"a": Echo(1), "b": Echo(2), "c": Echo(6)}
    result = play_game(players, ["dog"], GameConfig(rounds=2))
    summaries = by_player(result)
    # a guesses at hint 1 (5 points), b at hint 2 (4 points), c never.
    assert {name: s.guess_points for name, s in summaries.items()} == {"a": 20, "b": 16, "c": 0}
    assert {name: s.explain_points for name, s in summaries.items()} == {"a": 8, "b": 10, "c": 18}
    assert {name: s.words_guessed for name, s in summaries.items()} == {"a": 4, "b": 4, "c": 0}
    assert summaries["c"].mean_attempt is None
    assert all(s.availability == 1 for s in summaries.values())
    total_points = sum(sum(t.points.values()) for t in result.turns)
    assert sum(s.total for s in summaries.values()) == total_points


def test_failed_calls_are_told_by_status_and_a_player_that_never_answered_is_unavailable(
    result: GameResult,
) -> None:
    result.calls.extend(
        CallRecord(1, 1, "dog", "c", "guess", 1, {}, [], "error", 0.01, 0, f"refused {i % 2}")
        for i in range(3)
    )
    summaries = by_player(result)
    assert summaries["b"].failures == {"timeout": {"": 2}, "malformed": {"": 1}}
    assert summaries["c"].failures == {"error": {"refused 0": 2, "refused 1": 1}}
    assert (summaries["a"].unavailable, summaries["b"].unavailable) == (False, False)
    assert summaries["c"].unavailable
    assert format_failures(summarize(result)) == [
        "a: 1 of 103 calls failed: 1 error (no detail)",
        "b: 3 of 4 calls failed: 2 timeout (no detail), 1 malformed (no detail)",
        "c is unavailable: none of its 3 calls answered: 3 error (refused 0; 1 other message)",
    ]
    table = format_table(summarize(result)).splitlines()
    assert table[3].split()[6] == "unavailable"
