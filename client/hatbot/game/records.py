"""What a game records: its settings, every call to a player and every turn's result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hatbot.game.calls import Status
from hatbot.rules import Criteria, DroppedHint

Role = Literal["explain", "guess"]


@dataclass(frozen=True)
class GameConfig:
    """The settings of a game; the same settings, players and words replay the same game."""

    criteria: Criteria = "soft"
    n_explain: int = 5
    n_guess: int = 5
    rounds: int = 1
    seed: int = 0
    timeout: float = 1.0

    def __post_init__(self) -> None:
        if self.criteria not in ("soft", "hard"):
            raise ValueError(f"criteria must be 'soft' or 'hard', not {self.criteria!r}")
        for name in ("n_explain", "n_guess", "rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


@dataclass(frozen=True)
class CallRecord:
    """One call to a player.

    ``attempt`` is 0 for an explanation and the number of hints shown for a guess. ``points``
    are those a guess earned; ``None`` for an explanation, whose points are the turn's.
    """

    round: int
    turn: int
    word: str
    player: str
    role: Role
    attempt: int
    request: dict[str, Any]
    answer: list[str]
    status: Status
    latency: float
    points: int | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record as a log line's JSON object."""
        return {"event": "call", **asdict(self)}


@dataclass(frozen=True)
class TurnRecord:
    """The result of one player explaining one word.

    ``guessed_at`` maps each guesser who found the word to the number of hints it needed;
    ``points`` maps every player of the turn, explainer included, to the points it earned;
    ``dropped`` lists the explainer's hints that the host did not reveal, and why.
    """

    round: int
    turn: int
    word: str
    explainer: str
    hints: list[str]
    guessed_at: dict[str, int]
    points: dict[str, int]
    dropped: list[DroppedHint] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The record as a log line's JSON object."""
        return {"event": "turn", **asdict(self)}
