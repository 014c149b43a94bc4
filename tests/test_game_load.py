"""Rebuilding a game's result from its log: round trips, old and cut-off logs, and bad files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hatbot.game import GameConfig, GameLog, GameResult, Player, play_game, play_turn, read_log
from hatbot.game.load import GameLogError, load_game
from hatbot.rules import Criteria, DroppedHint, DropReason


class Bot:
    """Explains with hints the host partly drops; finds the word at the second hint."""

    def explain(self, word: str, n_words: int) -> list[str]:
        return ["Dogs", "BARK!", "bark", "dig", "pup py", "leash", "42", "kennel", "collar"]

    def guess(self, words: list[str], n_words: int) -> list[str]:
        return ["dog", "cat"] if len(words) > 1 else ["cat"]


class Broken:
    def explain(self, word: str, n_words: int) -> list[str]:
        raise RuntimeError("explainer broke")

    def guess(self, words: list[str], n_words: int) -> Any:
        return "dog"  # malformed: not a list


TARGETS = {"a": "py:bots:Bot", "b": "py:bots:Bot", "c": "py:bots:Broken"}


def logged_game(path: Path, criteria: Criteria = "soft", rounds: int = 2) -> GameResult:
    players: dict[str, Player] = {"a": Bot(), "b": Bot(), "c": Broken()}
    config = GameConfig(criteria=criteria, rounds=rounds, seed=4)
    with GameLog.open(path) as log:
        return play_game(players, ["dog", "cat"], config, log, targets=TARGETS)


@pytest.mark.parametrize("criteria", ["soft", "hard"])
def test_a_log_gives_back_the_result_the_engine_returned(
    tmp_path: Path, criteria: Criteria
) -> None:
    path = tmp_path / "game.jsonl"
    result = logged_game(path, criteria)
    game = load_game(path)
    assert game.result == result
    assert game.warnings == []
    assert game.result.complete
    assert game.result.targets == TARGETS
    assert any(turn.dropped for turn in result.turns)  # the comparison covers dropped hints


@pytest.mark.parametrize(
    ("criteria", "hints", "dropped"),
    [
        ("soft", ["bark", "puppy", "leash", "kennel", "collar"],
         [("Dogs", "contains_word"), ("bark", "repeat"), ("dig", "too_close"),
          ("42", "no_letters")]),
        ("hard", ["bark", "puppy"],
         [("Dogs", "contains_word"), ("bark", "repeat"), ("dig", "too_close"),
          *((hint, "beyond_n_explain") for hint in ["leash", "42", "kennel", "collar"])]),
    ],
)  # fmt: skip
def test_each_turn_logs_the_hints_the_host_dropped_and_why(
    tmp_path: Path, criteria: Criteria, hints: list[str], dropped: list[tuple[str, DropReason]]
) -> None:
    path = tmp_path / "game.jsonl"
    config = GameConfig(criteria=criteria)
    with GameLog.open(path) as log:
        turn, _ = play_turn({"a": Bot(), "b": Bot()}, "a", "dog", config, log)
    assert (turn.hints, turn.dropped) == (hints, [DroppedHint(*d) for d in dropped])
    assert read_log(path)[-1]["dropped"] == [{"hint": h, "reason": r} for h, r in dropped]


def test_a_format_1_log_is_read_and_its_dropped_hints_are_told_by_the_rules(
    tmp_path: Path,
) -> None:
    path = tmp_path / "game.jsonl"
    result = logged_game(path, "hard")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record.pop("format", None)
        record.pop("targets", None)
        record.pop("dropped", None)
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert load_game(old).result == replace(result, targets={})


def test_a_log_cut_off_mid_game_gives_the_turns_played(tmp_path: Path) -> None:
    path = tmp_path / "game.jsonl"
    result = logged_game(path)
    lines = path.read_text().splitlines(keepends=True)
    turn_lines = [i for i, line in enumerate(lines) if '"event": "turn"' in line]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[: turn_lines[2] + 3]))  # three turns and two calls of the next
    game = load_game(cut)
    assert game.warnings == []
    assert not game.result.complete
    assert game.result.turns == result.turns[:3]
    assert game.result.calls == result.calls[: turn_lines[2] + 2 - 3]


def test_a_last_line_cut_off_while_written_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "game.jsonl"
    result = logged_game(path)
    text = path.read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) - 20])  # the last turn's line, cut in the middle
    game = load_game(cut)
    last = len(text.splitlines())
    assert game.warnings == [f"{cut}:{last}: the last line is cut off; it was skipped"]
    assert game.result.turns == result.turns[:-1]
    assert not game.result.complete


GAME = json.dumps(
    {"event": "game", "format": 2, "criteria": "soft", "n_explain": 5, "n_guess": 5,
     "rounds": 1, "seed": 1, "timeout": 1.0, "players": ["a", "b"], "targets": {}}
)  # fmt: skip
CALL = {"event": "call", "round": 1, "turn": 1, "word": "dog", "player": "a", "role": "explain",
        "attempt": 0, "request": {}, "answer": [], "status": "ok", "latency": 0.1,
        "points": None}  # fmt: skip


def line(**changes: Any) -> str:
    return json.dumps({key: value for key, value in {**CALL, **changes}.items() if value != ...})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a game log: the file is empty"),
        ("\n\n", "not a game log: the file is empty"),
        ("dog\ncat\n", ":1: not a game log record: not JSON (Expecting value, column 1)"),
        ("[1, 2]\n", ":1: not a game log record: not a JSON object"),
        (line() + "\n", ':1: not a game log: it must start with the game\'s settings ("event"'),
        (f"{GAME}\n{{oops\n{line()}\n", ":2: not a game log record: not JSON"),
        (f"{GAME}\n{{}}\n", ":2: unknown event None"),
        (f'{GAME}\n{{"event": "move"}}\n', ":2: unknown event 'move'"),
        (f"{GAME}\n{line(latency=...)}\n", ":2: call: missing field 'latency'"),
        (f"{GAME}\n{line(latency='fast')}\n", ":2: call: 'latency' must be float, got 'fast'"),
        (
            f"{GAME}\n{line(status='fine')}\n",
            ":2: call: 'status' must be one of 'ok', 'timeout', 'error', 'malformed', got 'fine'",
        ),
        (f"{GAME}\n{line(player='zed')}\n", ":2: 'zed' is not a player of this game"),
        (f"{GAME}\n{GAME}\n", ":2: a second game starts here; a log holds one game"),
        (GAME.replace('"format": 2', '"format": 99'), ":1: log format 99, but this hatbot reads"),
        (
            GAME.replace('"soft"', '"medium"'),
            ":1: game settings: 'criteria' must be one of 'soft', 'hard', got 'medium'",
        ),
        (GAME.replace('"rounds": 1', '"rounds": 0'), ":1: game settings: rounds must be"),
        (GAME.replace('["a", "b"]', '["a"]'), ":1: game settings: players must be two or more"),
        (
            GAME.replace('["a", "b"]', '"ab"'),
            ":1: game settings: 'players' must be list[str], got 'ab'",
        ),
    ],
)
def test_a_file_that_is_not_a_game_log_is_an_error_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(GameLogError) as error:
        load_game(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


def test_a_missing_or_binary_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GameLogError, match=r"cannot read .*missing\.jsonl: No such file"):
        load_game(tmp_path / "missing.jsonl")
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00game")
    with pytest.raises(GameLogError, match=r"binary\.jsonl: not a game log: not UTF-8 text"):
        load_game(tmp_path / "binary.jsonl")
