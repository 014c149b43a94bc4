"""The HTML report of a game: one self-contained page, plots inline as SVG, no network.

Needs the ``report`` extra (matplotlib and Jinja2): ``pip install 'hatbot[report]'``.
"""

from __future__ import annotations

import io
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hatbot.game.engine import GameResult
from hatbot.game.records import CallRecord, Role, TurnRecord
from hatbot.game.summary import PlayerSummary, summarize
from hatbot.models.store import write_text_atomic
from hatbot.rules import DROP_REASONS, is_guessed

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL = "pip install 'hatbot[report]'"

#: Tableau 10: distinct, colour-blind-aware colours, one per player in seating order.
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
_INK, _MUTED, _GRID, _FAILED = "#1f2933", "#616e7c", "#e4e7eb", "#b42318"


class ReportExtraMissingError(ImportError):
    """The report extra is not installed; the message says what to install."""


def require_report_extra() -> None:
    """Raise :class:`ReportExtraMissingError` unless matplotlib and Jinja2 can be imported."""
    try:
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ReportExtraMissingError(
            f"the HTML report needs {exc.name or 'matplotlib'}: {INSTALL}"
        ) from None


def write_report(
    path: Path, result: GameResult, *, log: Path | None = None, warnings: Sequence[str] = ()
) -> None:
    """Write the report page of ``result`` to ``path`` atomically."""
    write_text_atomic(path, render_html(result, log=log, warnings=warnings))


@dataclass(frozen=True)
class GuesserView:
    """One guesser's part in a turn: every call it made and where it found the word."""

    player: str
    found_at: int | None
    points: int
    calls: list[CallRecord]


@dataclass(frozen=True)
class TurnView:
    """A row of the per-word table."""

    turn: TurnRecord
    explained: CallRecord | None
    guessers: list[GuesserView]


def render_html(
    result: GameResult, *, log: Path | None = None, warnings: Sequence[str] = ()
) -> str:
    """The report page of ``result``; ``log`` and ``warnings`` say where it was read from."""
    require_report_extra()
    import jinja2
    import markupsafe

    colors = {player: PALETTE[i % len(PALETTE)] for i, player in enumerate(result.players)}
    summaries = summarize(result)
    template = resources.files("hatbot.game").joinpath("report.html.j2").read_text("utf-8")
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    plots = {
        "points": _points_plot(summaries, colors),
        "found_at": _found_at_plot(result, colors),
        "latency": _latency_plot(result, colors),
    }
    return environment.from_string(template).render(
        result=result,
        config=result.config,
        summaries=summaries,
        chances={s.player: _chances(result, s.player) for s in summaries},
        statuses={
            player: Counter(c.status for c in result.calls if c.player == player)
            for player in result.players
        },
        hit=lambda word, guess: is_guessed(word, [guess], result.config.criteria),
        colors=colors,
        plots={name: markupsafe.Markup(svg) for name, svg in plots.items()},
        turns=_turn_views(result),
        reasons=DROP_REASONS,
        log=log,
        warnings=warnings,
        version=_version(),
        ms=_ms,
    )


def _version() -> str:
    try:
        return metadata.version("hatbot")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "(unknown version)"


def _chances(result: GameResult, player: str) -> int:
    """The words ``player`` had to guess: the played turns it did not explain."""
    return sum(turn.explainer != player for turn in result.turns)


def _turn_views(result: GameResult) -> list[TurnView]:
    calls_of: dict[int, list[CallRecord]] = {}
    for call in result.calls:
        calls_of.setdefault(call.turn, []).append(call)
    views = []
    for turn in result.turns:
        calls = calls_of.get(turn.turn, [])
        guessers = [
            GuesserView(
                player,
                turn.guessed_at.get(player),
                turn.points.get(player, 0),
                [c for c in calls if c.player == player and c.role == "guess"],
            )
            for player in result.players
            if player != turn.explainer
        ]
        explained = next((c for c in calls if c.role == "explain"), None)
        views.append(TurnView(turn, explained, guessers))
    return views


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "\N{EN DASH}"
    return f"{seconds * 1000:.1f}" if seconds < 0.1 else f"{seconds * 1000:.0f}"


# --- plots -----------------------------------------------------------------------------------


@contextmanager
def _figure(name: str, width: float, height: float) -> Iterator[Figure]:
    """A figure in the page's style, without pyplot or a display."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(
        {
            "svg.fonttype": "path",  # glyphs as paths: looks the same without the fonts
            "svg.hashsalt": name,  # ids unique per plot, and the same on every run
            "text.parse_math": False,  # a "$" in a player's name is text
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "text.color": _INK,
            "axes.labelcolor": _MUTED,
            "axes.edgecolor": _GRID,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
            "axes.titlelocation": "left",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "xtick.color": _MUTED,
            "ytick.color": _MUTED,
            "legend.frameon": False,
        }
    ):
        yield Figure(figsize=(width, height), layout="constrained")


def _svg(figure: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element whose ids start with ``name``, unique on the page."""
    buffer = io.StringIO()
    figure.savefig(
        buffer,
        format="svg",
        metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
    )
    text = buffer.getvalue()
    return re.sub(r'(id="|href="#|url\(#)', rf"\1{name}-", text[text.index("<svg") :])


def _points_plot(summaries: list[PlayerSummary], colors: dict[str, str]) -> str:
    """Each player's points, stacked: as explainer (solid) and as guesser (light)."""
    from matplotlib import ticker
    from matplotlib.patches import Patch

    players = [s.player for s in reversed(summaries)]  # best at the top
    with _figure("points", 5.2, _side_height(len(players))) as figure:
        axes = figure.add_subplot()
        explaining = [s.explain_points for s in reversed(summaries)]
        guessing = [s.guess_points for s in reversed(summaries)]
        shades = [colors[p] for p in players]
        light: dict[str, Any] = {
            "alpha": 0.45,
            "hatch": "///",
            "edgecolor": "white",
            "linewidth": 0,
        }
        axes.barh(players, explaining, color=shades, height=0.6)
        axes.barh(players, guessing, left=explaining, color=shades, height=0.6, **light)
        for row, (explained, guessed) in enumerate(zip(explaining, guessing, strict=True)):
            axes.text(explained + guessed, row, f"  {explained + guessed}", va="center")
        axes.set_xlabel("points")
        axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axes.margins(x=0.12)
        _grid(axes, "x")
        roles = [
            Patch(facecolor=_MUTED, label="as explainer"),
            Patch(facecolor=_MUTED, label="as guesser", **light),
        ]
        axes.legend(handles=roles, loc="lower right", ncols=2, bbox_to_anchor=(1, 1.0))
        return _svg(figure, "points")


def _found_at_plot(result: GameResult, colors: dict[str, str]) -> str:
    """For each guesser, how many words it found at each hint, and how many it missed."""
    from matplotlib import ticker

    n = result.config.n_explain
    labels = [str(i) for i in range(1, n + 1)] + ["missed"]
    players = result.players
    width = 0.8 / len(players)
    with _figure("found_at", 5.2, _side_height(len(players))) as figure:
        axes = figure.add_subplot()
        for index, player in enumerate(players):
            counts = [0] * (n + 1)
            for turn in result.turns:
                if turn.explainer != player:
                    counts[turn.guessed_at.get(player, n + 1) - 1] += 1
            offsets = [x + (index - (len(players) - 1) / 2) * width for x in range(n + 1)]
            axes.bar(offsets, counts, width * 0.92, color=colors[player], label=player)
        axes.set_xticks(range(n + 1), labels)
        axes.set_xlabel("hint at which the guesser found the word")
        axes.set_ylabel("words")
        axes.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        _grid(axes, "y")
        axes.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=min(len(players), 4))
        return _svg(figure, "found-at")


def _side_height(players: int) -> float:
    """Inches: the two plots side by side are as tall as each other."""
    return max(2.6, 1.0 + 0.42 * players)


def _latency_plot(result: GameResult, colors: dict[str, str]) -> str:
    """Every call's latency per player and kind, on a log scale; failed calls as red crosses."""
    from matplotlib import ticker

    players = result.players
    timeout_ms = result.config.timeout * 1000
    jitter = random.Random(0)
    with _figure("latency", 10.4, 0.9 + 0.45 * len(players)) as figure:
        panels = figure.subplots(1, 2, sharey=True)
        roles: tuple[Role, Role] = ("explain", "guess")
        for axes, role in zip(panels, roles, strict=True):
            for row, player in enumerate(reversed(players)):
                calls = [c for c in result.calls if c.player == player and c.role == role]
                ok = [max(c.latency * 1000, 0.01) for c in calls if c.status == "ok"]
                failed = [max(c.latency * 1000, 0.01) for c in calls if c.status != "ok"]
                if ok:
                    axes.boxplot(
                        ok,
                        positions=[row],
                        orientation="horizontal",
                        widths=0.5,
                        showfliers=False,
                        medianprops={"color": _INK},
                        boxprops={"color": _MUTED},
                        whiskerprops={"color": _MUTED},
                        capprops={"color": _MUTED},
                    )
                for values, marker, color in ((ok, "o", colors[player]), (failed, "x", _FAILED)):
                    rows = [row + jitter.uniform(-0.18, 0.18) for _ in values]
                    axes.scatter(values, rows, s=10, marker=marker, color=color, alpha=0.6)
            axes.axvline(timeout_ms, color=_FAILED, linestyle="--", linewidth=0.8)
            axes.text(timeout_ms, len(players) - 0.45, " deadline", color=_FAILED, fontsize=8)
            axes.set_xscale("log")
            # Plain numbers: the default log labels are mathtext, which is off (see _figure).
            axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            axes.xaxis.set_minor_formatter(ticker.NullFormatter())
            axes.set_xlabel(f"{role} latency, ms (log scale)")
            axes.set_title(f"{role.capitalize()} calls")
            axes.set_yticks(range(len(players)), list(reversed(players)))
            axes.set_ylim(-0.6, len(players) - 0.2)
            _grid(axes, "x")
        return _svg(figure, "latency")


def _grid(axes: Axes, which: Literal["x", "y"]) -> None:
    axes.grid(axis=which, color=_GRID, linewidth=0.8)
    axes.set_axisbelow(True)
