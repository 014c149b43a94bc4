"""The host: turns, points, failing players, the game log and reproducibility."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hatbot.game import (
    CallRecord,
    GameConfig,
    GameLog,
    PlayerTimeoutError,
    draw_words,
    play_game,
    play_turn,
    read_log,
)
from hatbot.game.calls import PendingCall

SHORT = 0.1  # a deadline that a sleeping player misses; never used to time the tests
HINTS = ["animal", "bark", "puppy", "leash", "kennel"]


class Scripted:
    """Explains with fixed hints; guesses ``answer`` once it has seen ``after`` hints."""

    def __init__(self, answer: str = "dog", after: int | None = None, hints: Any = None) -> None:
        self.answer = answer
        self.after = after
        self.hints = HINTS if hints is None else hints
        self.explained: list[tuple[str, int]] = []
        self.asked: list[list[str]] = []

    def explain(self, word: str, n_words: int) -> Any:
        self.explained.append((word, n_words))
        return self.hints

    def guess(self, words: list[str], n_words: int) -> Any:
        self.asked.append(list(words))
        if self.after is not None and len(words) >= self.after:
            return ["cat", self.answer]
        return ["cat", "mouse"]


class Sleepy(Scripted):
    """Takes far longer than :data:`SHORT` to answer anything."""

    def explain(self, word: str, n_words: int) -> Any:
        time.sleep(10 * SHORT)
        return super().explain(word, n_words)

    def guess(self, words: list[str], n_words: int) -> Any:
        time.sleep(10 * SHORT)
        return ["dog"]


class Failing(Scripted):
    """Raises on every call."""

    def explain(self, word: str, n_words: int) -> Any:
        raise RuntimeError("explainer broke")

    def guess(self, words: list[str], n_words: int) -> Any:
        raise RuntimeError("guesser broke")


class Junk(Scripted):
    """Answers ``junk`` to everything."""

    def __init__(self, junk: object) -> None:
        super().__init__()
        self.junk = junk

    def explain(self, word: str, n_words: int) -> Any:
        return self.junk

    def guess(self, words: list[str], n_words: int) -> Any:
        return self.junk


def turn_of(players: dict[str, Any], config: GameConfig | None = None, word: str = "dog") -> Any:
    return play_turn(players, next(iter(players)), word, config or GameConfig())


# --- points and who is asked ---------------------------------------------------------------


@pytest.mark.parametrize("after", [1, 2, 3, 4, 5])
def test_a_guesser_succeeding_at_hint_i_gets_n_explain_plus_1_minus_i(after: int) -> None:
    turn, calls = turn_of({"ex": Scripted(), "g": Scripted(after=after)})
    assert turn.guessed_at == {"g": after}
    assert turn.points["g"] == 5 + 1 - after
    assert [c.points for c in calls] == [None] + [0] * (after - 1) + [5 + 1 - after]


def test_points_follow_n_explain() -> None:
    config = GameConfig(n_explain=3)
    turn, _ = turn_of({"ex": Scripted(), "g": Scripted(after=1)}, config)
    assert turn.hints == HINTS[:3]
    assert turn.points == {"g": 3, "ex": 3}


def test_the_explainer_gets_the_sum_of_its_guessers_points() -> None:
    players = {"ex": Scripted(), "a": Scripted(after=1), "b": Scripted(after=3), "c": Scripted()}
    turn, _ = turn_of(players)
    assert turn.points == {"a": 5, "b": 3, "c": 0, "ex": 8}


def test_nobody_scores_when_nobody_guesses() -> None:
    turn, _ = turn_of({"ex": Scripted(), "a": Scripted(), "b": Scripted()})
    assert turn.guessed_at == {}
    assert turn.points == {"a": 0, "b": 0, "ex": 0}


def test_hints_are_revealed_one_at_a_time_and_a_guesser_leaves_after_success() -> None:
    early, late, never = Scripted(after=2), Scripted(after=4), Scripted()
    turn_of({"ex": Scripted(), "early": early, "late": late, "never": never})
    assert early.asked == [HINTS[:1], HINTS[:2]]
    assert late.asked == [HINTS[:i] for i in range(1, 5)]
    assert never.asked == [HINTS[:i] for i in range(1, 6)]


def test_guessing_stops_once_every_guesser_has_succeeded() -> None:
    a, b = Scripted(after=1), Scripted(after=2)
    _, calls = turn_of({"ex": Scripted(), "a": a, "b": b})
    assert [(c.player, c.attempt) for c in calls] == [("ex", 0), ("a", 1), ("b", 1), ("b", 2)]


def test_the_explainer_is_asked_for_n_explain_hints_and_guessers_for_n_guess() -> None:
    explainer, guesser = Scripted(), Scripted()
    _, calls = turn_of({"ex": explainer, "g": guesser}, GameConfig(n_explain=4, n_guess=7))
    assert explainer.explained == [("dog", 4)]
    assert calls[0].request == {"word": "dog", "n_words": 4}
    assert calls[1].request == {"words": ["animal"], "n_words": 7}


def test_only_the_first_n_guess_guesses_are_judged() -> None:
    class Many(Scripted):
        def guess(self, words: list[str], n_words: int) -> Any:
            return ["cat", "mouse", "dog"]

    assert turn_of({"ex": Scripted(), "g": Many()}, GameConfig(n_guess=2))[0].points["g"] == 0
    assert turn_of({"ex": Scripted(), "g": Many()}, GameConfig(n_guess=3))[0].points["g"] == 5


def test_guessers_see_the_cleaned_hints() -> None:
    guesser = Scripted()
    explainer = Scripted(hints=["Dog", "BARK!", "bark", "dig", "pup py"])
    turn, _ = turn_of({"ex": explainer, "g": guesser})
    assert turn.hints == ["bark", "puppy"]
    assert guesser.asked == [["bark"], ["bark", "puppy"]]


def test_a_word_without_surviving_hints_asks_no_guesser() -> None:
    guesser = Scripted(after=1)
    turn, calls = turn_of({"ex": Scripted(hints=["dog", "dogs"]), "g": guesser})
    assert guesser.asked == []
    assert [c.role for c in calls] == ["explain"]
    assert turn.points == {"g": 0, "ex": 0}


def test_a_guesser_changing_its_hint_list_does_not_change_anothers() -> None:
    class Vandal(Scripted):
        def guess(self, words: list[str], n_words: int) -> Any:
            words.append("dog")
            return []

    other = Scripted()
    turn_of({"ex": Scripted(), "vandal": Vandal(), "other": other})
    assert other.asked == [HINTS[:i] for i in range(1, 6)]


def test_hard_criteria_judges_exact_guesses() -> None:
    players = {"ex": Scripted(), "near": Scripted("dogs", after=1), "exact": Scripted(after=2)}
    soft, _ = turn_of(players, GameConfig(criteria="soft"))
    hard, _ = turn_of(players, GameConfig(criteria="hard"))
    assert soft.guessed_at == {"near": 1, "exact": 2}
    assert hard.guessed_at == {"exact": 2}


# --- failing players -------------------------------------------------------------------------


def test_a_guesser_past_its_deadline_counts_as_empty_and_others_still_play() -> None:
    config = GameConfig(timeout=SHORT)
    turn, calls = turn_of({"ex": Scripted(), "slow": Sleepy(), "g": Scripted(after=1)}, config)
    slow = [c for c in calls if c.player == "slow"]
    assert [c.status for c in slow] == ["timeout"] * 5
    assert all(c.answer == [] and c.points == 0 for c in slow)
    assert all(c.detail for c in slow)
    assert turn.points == {"slow": 0, "g": 5, "ex": 5}


def test_an_explainer_past_its_deadline_gives_no_hints() -> None:
    guesser = Scripted(after=1)
    turn, calls = turn_of({"ex": Sleepy(), "g": guesser}, GameConfig(timeout=SHORT))
    assert (calls[0].status, calls[0].answer) == ("timeout", [])
    assert turn.hints == []
    assert guesser.asked == []


def test_a_player_reporting_its_own_timeout_is_recorded_as_timeout() -> None:
    class Late(Scripted):
        def guess(self, words: list[str], n_words: int) -> Any:
            raise PlayerTimeoutError("deadline exceeded upstream")

    _, calls = turn_of({"ex": Scripted(), "g": Late()})
    assert {c.status for c in calls if c.role == "guess"} == {"timeout"}


def test_an_answer_after_the_deadline_is_a_timeout_even_when_read_later() -> None:
    def late() -> list[str]:
        time.sleep(2 * SHORT)
        return ["dog"]

    pending = PendingCall(late, SHORT)
    time.sleep(4 * SHORT)
    outcome = pending.outcome()
    assert (outcome.status, outcome.answer) == ("timeout", [])


def test_errors_count_as_empty_answers_and_are_recorded() -> None:
    turn, calls = turn_of({"ex": Scripted(), "bad": Failing()})
    assert {c.status for c in calls if c.player == "bad"} == {"error"}
    assert "guesser broke" in calls[1].detail
    turn, calls = turn_of({"bad": Failing(), "g": Scripted(after=1)})
    assert (calls[0].status, calls[0].answer, turn.hints) == ("error", [], [])
    assert "explainer broke" in calls[0].detail


@pytest.mark.parametrize("junk", ["dog", None, 42, ("dog",), ["dog", 1], {"dog": 1}, [["dog"]]])
def test_answers_that_are_not_lists_of_strings_are_malformed_and_empty(junk: object) -> None:
    turn, calls = turn_of({"ex": Scripted(), "junk": Junk(junk)})
    guesses = [c for c in calls if c.player == "junk"]
    assert len(guesses) == 5
    assert all((c.status, c.answer, c.points) == ("malformed", [], 0) for c in guesses)
    assert turn.points["junk"] == 0
    turn, calls = turn_of({"junk": Junk(junk), "g": Scripted(after=1)})
    assert (calls[0].status, calls[0].answer, turn.hints) == ("malformed", [], [])


def test_well_formed_answers_are_ok_with_a_latency() -> None:
    _, calls = turn_of({"ex": Scripted(), "g": Scripted(after=2)})
    assert all(c.status == "ok" and c.detail == "" and c.latency >= 0 for c in calls)
    assert calls[0].answer == HINTS
    assert calls[-1].answer == ["cat", "dog"]


# --- games, draws and the log ---------------------------------------------------------------


def test_draws_cover_every_word_before_repeating_and_follow_the_seed() -> None:
    words = ["a", "b", "c", "d", "b"]
    draws = draw_words(words, seed=3)
    first, second = [next(draws) for _ in range(4)], [next(draws) for _ in range(4)]
    assert sorted(first) == sorted(second) == ["a", "b", "c", "d"]
    again = draw_words(words, seed=3)
    assert [next(again) for _ in range(8)] == first + second
    orders = {tuple(itertools.islice(draw_words(words, seed), 4)) for seed in range(20)}
    assert len(orders) > 1


def test_draws_need_words() -> None:
    with pytest.raises(ValueError, match="no words"):
        draw_words([], seed=0)
    with pytest.raises(ValueError, match="no words"):
        play_game({"a": Scripted(), "b": Scripted()}, [], GameConfig())


def test_each_round_every_player_explains_one_word_in_turn() -> None:
    players = {name: Scripted() for name in ("a", "b", "c")}
    words = [f"word{i}" for i in range(10)]
    result = play_game(players, words, GameConfig(rounds=3, seed=5))
    assert [(t.round, t.turn, t.explainer) for t in result.turns] == [
        (r, 3 * (r - 1) + i + 1, name) for r in (1, 2, 3) for i, name in enumerate("abc")
    ]
    drawn = [t.word for t in result.turns]
    assert len(set(drawn)) == 9
    assert Counter(len(p.explained) for p in players.values()) == Counter({3: 3})


def test_a_game_needs_two_players() -> None:
    with pytest.raises(ValueError, match="two players"):
        play_game({"alone": Scripted()}, ["dog"], GameConfig())


@pytest.mark.parametrize(
    "settings",
    [{"criteria": "medium"}, {"n_explain": 0}, {"n_guess": 0}, {"rounds": 0}, {"timeout": 0}],
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        GameConfig(**settings)


def test_the_log_holds_the_settings_every_call_and_every_turn(tmp_path: Path) -> None:
    path = tmp_path / "game.jsonl"
    players = {"a": Scripted(after=2), "b": Scripted(after=1), "c": Failing()}
    targets = {"a": "py:bots:A", "b": "localhost:1", "c": "http://localhost:2"}
    with GameLog.open(path) as log:
        result = play_game(players, ["dog"], GameConfig(rounds=2, seed=9), log, targets=targets)
    records = read_log(path)
    assert records[0] == {
        "event": "game", "format": 2, "criteria": "soft", "n_explain": 5, "n_guess": 5,
        "rounds": 2, "seed": 9, "timeout": 1.0, "players": ["a", "b", "c"], "targets": targets,
    }  # fmt: skip
    assert result.targets == targets
    calls = [r for r in records if r["event"] == "call"]
    turns = [r for r in records if r["event"] == "turn"]
    assert calls == [json.loads(json.dumps(c.to_json())) for c in result.calls]
    assert turns == [json.loads(json.dumps(t.to_json())) for t in result.turns]
    assert len(turns) == 6
    fields = {"player", "role", "round", "word", "request", "answer", "status", "latency", "points"}
    assert all(fields <= set(c) for c in calls)
    assert {c["status"] for c in calls} == {"ok", "error"}


def test_every_call_is_in_the_log_before_the_next_call_starts(tmp_path: Path) -> None:
    path = tmp_path / "game.jsonl"
    seen: list[int] = []

    class Spy(Scripted):
        def explain(self, word: str, n_words: int) -> Any:
            seen.append(len(read_log(path)))
            return super().explain(word, n_words)

        def guess(self, words: list[str], n_words: int) -> Any:
            seen.append(len(read_log(path)))
            return super().guess(words, n_words)

    with GameLog.open(path) as log:
        result = play_game({"spy": Spy(), "g": Scripted(after=3)}, ["dog"], GameConfig(), log)
        # The spy explains first, seeing the header. In the next turn it guesses five times:
        # first after the header, the first turn's 1 + 3 calls and turn line, and g's explanation.
        assert seen == [1, 7, 8, 9, 10, 11]
        assert len(read_log(path)) == 1 + len(result.calls) + len(result.turns)


def log_without_latencies(path: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "latency"} for r in read_log(path)]


def test_the_same_seed_replays_the_same_game(tmp_path: Path) -> None:
    def game(seed: int, name: str) -> list[dict[str, Any]]:
        players = {"a": Scripted(after=2), "b": Scripted(after=1), "c": Junk(7)}
        words = [f"word{i}" for i in range(12)]
        with GameLog.open(tmp_path / name) as log:
            play_game(players, words, GameConfig(rounds=3, seed=seed), log)
        return log_without_latencies(tmp_path / name)

    assert game(11, "one.jsonl") == game(11, "two.jsonl")
    assert game(11, "one.jsonl") != game(12, "three.jsonl")


def test_a_guesser_that_never_returns_does_not_hold_up_the_game() -> None:
    release = threading.Event()

    class Stuck(Scripted):
        def guess(self, words: list[str], n_words: int) -> Any:
            release.wait(30)
            return ["dog"]

    try:
        players = {"a": Scripted(after=1), "b": Stuck(), "c": Scripted(after=2)}
        result = play_game(players, ["dog"], GameConfig(timeout=SHORT))
        stuck = [c for c in result.calls if c.player == "b" and c.role == "guess"]
        assert len(stuck) == 10
        assert {c.status for c in stuck} == {"timeout"}
        assert sum(t.points["c"] for t in result.turns if t.explainer != "c") == 8
    finally:
        release.set()


def test_call_records_name_the_turn(tmp_path: Path) -> None:
    result = play_game({"a": Scripted(after=1), "b": Scripted()}, ["dog"], GameConfig())
    assert all(isinstance(c, CallRecord) for c in result.calls)
    assert [(c.round, c.turn, c.word, c.role) for c in result.calls[:2]] == [
        (1, 1, "dog", "explain"),
        (1, 1, "dog", "guess"),
    ]
