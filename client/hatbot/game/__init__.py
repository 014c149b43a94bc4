"""The Hat game engine: a host that plays a game between players and scores it."""

from hatbot.game.calls import Outcome, Status
from hatbot.game.engine import GameResult, draw_words, play_game, play_turn
from hatbot.game.load import GameLogError, LoggedGame, load_game
from hatbot.game.log import GameLog, read_log
from hatbot.game.players import (
    GrpcPlayer,
    MalformedAnswerError,
    Player,
    PlayerTimeoutError,
    RestPlayer,
    make_player,
)
from hatbot.game.records import CallRecord, GameConfig, Role, TurnRecord
from hatbot.game.summary import PlayerSummary, format_failures, format_table, summarize

__all__ = [
    "CallRecord",
    "GameConfig",
    "GameLog",
    "GameLogError",
    "GameResult",
    "GrpcPlayer",
    "LoggedGame",
    "MalformedAnswerError",
    "Outcome",
    "Player",
    "PlayerSummary",
    "PlayerTimeoutError",
    "RestPlayer",
    "Role",
    "Status",
    "TurnRecord",
    "draw_words",
    "format_failures",
    "format_table",
    "load_game",
    "make_player",
    "play_game",
    "play_turn",
    "read_log",
    "summarize",
]
