"""Per-player results of a game: points, guessing success, availability and latency."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from hatbot.game.calls import Status
from hatbot.game.engine import GameResult
from hatbot.game.records import Role


@dataclass(frozen=True)
class PlayerSummary:
    """One player's results; latencies in seconds, ``None`` where there was nothing to measure.

    ``failures`` maps each status other than ``"ok"`` to how often each detail came with it,
    most frequent first.
    """

    player: str
    explain_points: int
    guess_points: int
    words_guessed: int
    mean_attempt: float | None
    availability: float | None
    latency_p50: dict[Role, float | None]
    latency_p99: dict[Role, float | None]
    calls: int = 0
    failures: dict[Status, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Explaining and guessing points together."""
        return self.explain_points + self.guess_points

    @property
    def unavailable(self) -> bool:
        """Whether the player was called and never answered well in time."""
        return self.availability == 0


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of ``values``; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered) / 100) - 1)]


def summarize(result: GameResult) -> list[PlayerSummary]:
    """Every player's results, best total first (ties in seating order)."""
    summaries = [_summarize_player(result, player) for player in result.players]
    return sorted(summaries, key=lambda summary: -summary.total)


def _summarize_player(result: GameResult, player: str) -> PlayerSummary:
    calls = [call for call in result.calls if call.player == player]
    attempts = [turn.guessed_at[player] for turn in result.turns if player in turn.guessed_at]
    latencies: dict[Role, list[float]] = {"explain": [], "guess": []}
    failures: dict[Status, Counter[str]] = {}
    for call in calls:
        latencies[call.role].append(call.latency)
        if call.status != "ok":
            failures.setdefault(call.status, Counter())[call.detail] += 1
    return PlayerSummary(
        player=player,
        explain_points=sum(
            turn.points[player] for turn in result.turns if turn.explainer == player
        ),
        guess_points=sum(turn.points[player] for turn in result.turns if turn.explainer != player),
        words_guessed=len(attempts),
        mean_attempt=statistics.mean(attempts) if attempts else None,
        availability=(sum(call.status == "ok" for call in calls) / len(calls) if calls else None),
        latency_p50={role: percentile(values, 50) for role, values in latencies.items()},
        latency_p99={role: percentile(values, 99) for role, values in latencies.items()},
        calls=len(calls),
        failures={status: dict(details.most_common()) for status, details in failures.items()},
    )


_COLUMNS = (
    ("player", "<"), ("total", ">"), ("explain", ">"), ("guess", ">"), ("guessed", ">"),
    ("mean try", ">"), ("available", ">"), ("explain p50/p99 ms", ">"),
    ("guess p50/p99 ms", ">"),
)  # fmt: skip


def format_table(summaries: Sequence[PlayerSummary]) -> str:
    """The summaries as a plain-text table, one row per player."""
    rows = [[name for name, _ in _COLUMNS]]
    for summary in summaries:
        rows.append(
            [
                summary.player,
                str(summary.total),
                str(summary.explain_points),
                str(summary.guess_points),
                str(summary.words_guessed),
                _number(summary.mean_attempt, "{:.2f}"),
                "unavailable" if summary.unavailable else _number(summary.availability, "{:.1%}"),
                _latencies(summary, "explain"),
                _latencies(summary, "guess"),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(row, _COLUMNS, widths, strict=True)
        ).rstrip()
        for row in rows
    )


#: Failure details are cut to this many characters in the text summary.
MAX_DETAIL = 100


def format_failures(summaries: Sequence[PlayerSummary]) -> list[str]:
    """A line for each player with failed calls: how many, of which status and why."""
    lines = []
    for summary in summaries:
        if not summary.failures:
            continue
        failed = sum(sum(details.values()) for details in summary.failures.values())
        if summary.unavailable:
            head = f"{summary.player} is unavailable: none of its {summary.calls} calls answered"
        else:
            head = f"{summary.player}: {failed} of {summary.calls} calls failed"
        parts = [
            f"{sum(details.values())} {status} ({_details(details)})"
            for status, details in summary.failures.items()
        ]
        lines.append(f"{head}: {', '.join(parts)}")
    return lines


def _details(details: dict[str, int]) -> str:
    """The most frequent detail, shortened, and how many others there were."""
    first = next(iter(details)) or "no detail"
    if len(first) > MAX_DETAIL:
        first = first[: MAX_DETAIL - 3] + "..."
    others = len(details) - 1
    return first + (f"; {others} other message{'s' * (others > 1)}" if others else "")


def _number(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


def _latencies(summary: PlayerSummary, role: Role) -> str:
    p50, p99 = summary.latency_p50[role], summary.latency_p99[role]
    if p50 is None or p99 is None:
        return "-"
    return f"{p50 * 1000:.0f}/{p99 * 1000:.0f}"
