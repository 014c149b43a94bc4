"""The host of the Hat: who explains which word, who guesses, who scores."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from hatbot.game.calls import Outcome, PendingCall, call
from hatbot.game.log import GameLog
from hatbot.game.players import Player
from hatbot.game.records import CallRecord, GameConfig, TurnRecord
from hatbot.rules import is_guessed, judge_hints

#: The version of the log's records, in its first line; logs without one are version 1.
LOG_FORMAT = 2


@dataclass(frozen=True)
class GameResult:
    """Everything a game recorded, in the order it happened.

    ``targets`` maps players to where they were reached (an address, a URL, ``py:module:attr``)
    when the host was told.
    """

    config: GameConfig
    players: list[str]
    calls: list[CallRecord] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    targets: dict[str, str] = field(default_factory=dict)

    @property
    def planned_turns(self) -> int:
        """The turns of the whole game: every player explains once a round."""
        return self.config.rounds * len(self.players)

    @property
    def complete(self) -> bool:
        """Whether every planned turn was played (a game read from a cut-off log was not)."""
        return len(self.turns) == self.planned_turns


def draw_words(words: Sequence[str], seed: int) -> Iterator[str]:
    """Endless reproducible draws: every distinct word once in a shuffled order, then again."""
    pool = list(dict.fromkeys(words))
    if not pool:
        raise ValueError("no words to play")
    return _shuffled_forever(pool, random.Random(seed))


def _shuffled_forever(pool: list[str], rng: random.Random) -> Iterator[str]:
    while True:
        order = pool[:]
        rng.shuffle(order)
        yield from order


def play_game(
    players: Mapping[str, Player],
    words: Sequence[str],
    config: GameConfig,
    log: GameLog | None = None,
    *,
    targets: Mapping[str, str] | None = None,
    on_turn: Callable[[TurnRecord], None] | None = None,
) -> GameResult:
    """Play ``config.rounds`` rounds, in each of which every player explains one drawn word.

    ``targets`` (where each player was reached) goes into the result and the log; ``on_turn``
    is called after each turn, e.g. to show progress.
    """
    if len(players) < 2:
        raise ValueError("the Hat needs at least two players")
    draws = draw_words(words, config.seed)
    result = GameResult(config, list(players), targets=dict(targets or {}))
    if log is not None:
        log.write(
            {
                "event": "game",
                "format": LOG_FORMAT,
                **asdict(config),
                "players": result.players,
                "targets": result.targets,
            }
        )
    for round_no in range(1, config.rounds + 1):
        for explainer in players:
            turn, calls = play_turn(
                players, explainer, next(draws), config, log, round_no, len(result.turns) + 1
            )
            result.calls.extend(calls)
            result.turns.append(turn)
            if on_turn is not None:
                on_turn(turn)
    return result


def play_turn(
    players: Mapping[str, Player],
    explainer: str,
    word: str,
    config: GameConfig,
    log: GameLog | None = None,
    round_no: int = 1,
    turn_no: int = 1,
) -> tuple[TurnRecord, list[CallRecord]]:
    """``explainer`` explains ``word`` to all other players; every call is logged as it ends."""
    calls: list[CallRecord] = []

    def record(
        player: str, attempt: int, request: dict[str, object], outcome: Outcome, points: int | None
    ) -> None:
        call_record = CallRecord(
            round=round_no,
            turn=turn_no,
            word=word,
            player=player,
            role="explain" if attempt == 0 else "guess",
            attempt=attempt,
            request=request,
            answer=outcome.answer,
            status=outcome.status,
            latency=outcome.latency,
            points=points,
            detail=outcome.detail,
        )
        calls.append(call_record)
        if log is not None:
            log.write(call_record.to_json())

    n_explain, n_guess = config.n_explain, config.n_guess
    explained = call(lambda: players[explainer].explain(word, n_explain), config.timeout)
    record(explainer, 0, {"word": word, "n_words": n_explain}, explained, None)
    hints, dropped = judge_hints(word, explained.answer, config.criteria, n_explain)

    guessers = [name for name in players if name != explainer]
    guessed_at: dict[str, int] = {}
    for attempt in range(1, len(hints) + 1):
        asked = [name for name in guessers if name not in guessed_at]
        if not asked:
            break
        shown = hints[:attempt]
        # All guessers think at once, each against its own deadline.
        pending = {
            name: PendingCall(_guess_request(players[name], shown, n_guess), config.timeout)
            for name in asked
        }
        for name, pending_call in pending.items():
            guessed = pending_call.outcome()
            success = is_guessed(word, guessed.answer[:n_guess], config.criteria)
            if success:
                guessed_at[name] = attempt
            points = n_explain + 1 - attempt if success else 0
            record(name, attempt, {"words": shown, "n_words": n_guess}, guessed, points)

    scores = {
        name: n_explain + 1 - guessed_at[name] if name in guessed_at else 0 for name in guessers
    }
    scores[explainer] = sum(scores.values())
    turn = TurnRecord(round_no, turn_no, word, explainer, hints, guessed_at, scores, dropped)
    if log is not None:
        log.write(turn.to_json())
    return turn, calls


def _guess_request(player: Player, shown: list[str], n_guess: int) -> Callable[[], object]:
    """A guess request; each guesser gets its own copy of the hints, so none can alter another's."""
    hints = list(shown)
    return lambda: player.guess(hints, n_guess)
