"""Rebuilding a game's result from the JSON-lines log that :class:`GameLog` wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import dacite

from hatbot.game.engine import LOG_FORMAT, GameResult
from hatbot.game.records import CallRecord, GameConfig, TurnRecord
from hatbot.rules import judge_hints

_Record = TypeVar("_Record")


class GameLogError(ValueError):
    """The file is not a readable game log; the message names the file and the line."""


@dataclass(frozen=True)
class LoggedGame:
    """A game read back from its log, with what a reader should know about the log itself."""

    result: GameResult
    path: Path
    warnings: list[str] = field(default_factory=list)


def load_game(path: str | Path) -> LoggedGame:
    """The game logged at ``path``.

    A log cut off mid-game gives the turns it holds (``result.complete`` is then false); a last
    line cut off while it was written is skipped with a warning. Anything else that is not a
    game log raises :class:`GameLogError`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GameLogError(f"{path}: not a game log: not UTF-8 text") from None
    except OSError as exc:
        raise GameLogError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = text.split("\n")
    reader = _Reader(path)
    warnings: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and reader.result is not None:  # no newline after it
                warnings.append(f"{path}:{number}: the last line is cut off; it was skipped")
                break
            raise GameLogError(
                f"{path}:{number}: not a game log record: not JSON ({exc.msg}, column {exc.colno})"
            ) from None
        reader.add(number, record)
    if reader.result is None:
        raise GameLogError(f"{path}: not a game log: the file is empty")
    return LoggedGame(reader.result, path, warnings)


class _Reader:
    """Turns the log's records, in order, into a :class:`GameResult`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.result: GameResult | None = None

    def add(self, number: int, record: object) -> None:
        where = f"{self.path}:{number}"
        if not isinstance(record, dict):
            raise GameLogError(f"{where}: not a game log record: not a JSON object")
        event = record.get("event")
        if self.result is None:
            if event != "game":
                raise GameLogError(
                    f'{where}: not a game log: it must start with the game\'s settings ("event": '
                    f'"game"), not {_shown(record)}'
                )
            self.result = self._game(where, record)
        elif event == "call":
            self.result.calls.append(self._call(where, record))
        elif event == "turn":
            self.result.turns.append(self._turn(where, record))
        elif event == "game":
            raise GameLogError(f"{where}: a second game starts here; a log holds one game")
        else:
            raise GameLogError(f"{where}: unknown event {event!r}")

    def _game(self, where: str, record: dict[str, Any]) -> GameResult:
        version = record.get("format", 1)
        if not isinstance(version, int) or not 1 <= version <= LOG_FORMAT:
            raise GameLogError(
                f"{where}: log format {version!r}, but this hatbot reads formats 1 to "
                f"{LOG_FORMAT}: upgrade hatbot"
            )
        config = _parse(GameConfig, record, f"{where}: game settings")
        players = _parse(_Seating, record, f"{where}: game settings")
        if len(set(players.players)) != len(players.players) or len(players.players) < 2:
            raise GameLogError(f"{where}: game settings: players must be two or more names")
        return GameResult(config, players.players, targets=players.targets)

    def _call(self, where: str, record: dict[str, Any]) -> CallRecord:
        call = _parse(CallRecord, record, f"{where}: call")
        self._check_player(where, call.player)
        return call

    def _turn(self, where: str, record: dict[str, Any]) -> TurnRecord:
        assert self.result is not None
        turn = _parse(TurnRecord, record, f"{where}: turn")
        self._check_player(where, turn.explainer)
        if "dropped" in record:
            return turn
        # Format 1 did not log the dropped hints: the host's rules tell them again.
        config = self.result.config
        explained = next(
            (
                call.answer
                for call in reversed(self.result.calls)
                if call.turn == turn.turn and call.role == "explain"
            ),
            [],
        )
        dropped = judge_hints(turn.word, explained, config.criteria, config.n_explain)[1]
        return replace(turn, dropped=dropped)

    def _check_player(self, where: str, player: str) -> None:
        assert self.result is not None
        if player not in self.result.players:
            raise GameLogError(f"{where}: {player!r} is not a player of this game")


@dataclass(frozen=True)
class _Seating:
    """The players of the game record."""

    players: list[str]
    targets: dict[str, str] = field(default_factory=dict)


def _parse(cls: type[_Record], record: dict[str, Any], where: str) -> _Record:
    try:
        return dacite.from_dict(cls, record)
    except dacite.MissingValueError as exc:
        raise GameLogError(f"{where}: missing field {exc.field_path!r}") from None
    except dacite.WrongTypeError as exc:
        raise GameLogError(
            f"{where}: {exc.field_path!r} must be {_type_name(exc.field_type)}, got "
            f"{_shown(_value_at(record, exc.field_path, exc.value))}"
        ) from None
    except (dacite.DaciteError, ValueError, TypeError) as exc:  # ValueError: GameConfig's checks
        raise GameLogError(f"{where}: {exc}") from None


def _value_at(record: dict[str, Any], path: str | None, default: object) -> object:
    """The value at dotted ``path`` of ``record`` as the log has it (dacite's may be converted)."""
    value: object = record
    for key in (path or "").split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def _type_name(field_type: Any) -> str:
    if get_origin(field_type) is Literal:
        return "one of " + ", ".join(map(repr, get_args(field_type)))
    return str(
        getattr(field_type, "__name__", field_type) if not get_args(field_type) else field_type
    )


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
