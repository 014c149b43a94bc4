"""Answer strategies: how hint words and guesses are chosen from a loaded model."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hatbot.rules import Criteria
from hatbot.server import lookup
from hatbot.server.explainer import Explainer, ExplainerParams
from hatbot.server.guesser import Guesser, GuesserParams
from hatbot.server.model import WordModel
from hatbot.server.scores import LiveHintScores, ScaledRow, ScoreParams
from hatbot.server.tables import StrategyTables, load_tables


class Strategy(Protocol):
    """Chooses hints for a word and guesses for hints; deterministic for a given model."""

    name: str

    @property
    def answers_live(self) -> bool:
        """True when a strategy made to look its answers up computes them instead (its stored
        tables are missing, unreadable or stale): every call is then many times slower."""
        ...

    def warm_up(self) -> None:
        """Read the memory-mapped data once, so that the first calls are not slow."""
        ...

    def explain(self, word: str, n_words: int) -> list[str]:
        """Up to ``n_words`` hints for ``word`` (lowercase letters), strongest first."""
        ...

    def guess(self, hints: Sequence[str], n_words: int, criteria: Criteria = "hard") -> list[str]:
        """Up to ``n_words`` guesses for the word behind ``hints`` (normalised), best first,
        possible under the host's ``criteria``."""
        ...


class BaselineStrategy:
    """The original starter strategy, kept as the yardstick: plain nearest neighbours.

    Explain returns the word's nearest neighbours; guess the nearest neighbours of the mean of
    the hint vectors. Nothing is filtered beyond the word itself and the hints.
    """

    name = "baseline"
    answers_live = False  # it stores nothing to look up

    def __init__(self, model: WordModel) -> None:
        self.model = model

    def warm_up(self) -> None:
        self.model.warm_up()

    def explain(self, word: str, n_words: int) -> list[str]:
        row = self.model.row(word)
        if row is None:
            return []
        rows, _ = self.model.nearest(self.model.vector(row), n_words + 1)
        return [self.model.words[r] for r in rows if r != row][:n_words]

    def guess(self, hints: Sequence[str], n_words: int, criteria: Criteria = "hard") -> list[str]:
        known = [r for r in map(self.model.row, hints) if r is not None]
        if not known:
            return []
        query = np.mean([self.model.vector(r) for r in known], axis=0)
        rows, _ = self.model.nearest(query, n_words + len(known))
        return [self.model.words[r] for r in rows if r not in known][:n_words]


@dataclass(frozen=True)
class _Live:
    """What computing answers needs: the views' neighbour tables, explainer and scorer."""

    tables: StrategyTables
    explainer: Explainer
    scores: LiveHintScores


# The guesser's score source and the lazily loaded live machinery hold no reference back to
# the strategy: a strategy dropped at a model reload is freed, memory maps and all, as soon
# as its last call ends, not at some later full collection.
class _LazyLive:
    """The live machinery of one model, loaded on first use."""

    def __init__(self, model: WordModel, explainer: ExplainerParams, scores: ScoreParams) -> None:
        self._model = model
        self._explainer = explainer
        self._scores = scores
        self._lock = threading.Lock()
        self.loaded: _Live | None = None

    def get(self) -> _Live:
        with self._lock:
            if self.loaded is None:
                strategy_tables = load_tables(self._model)
                self.loaded = _Live(
                    strategy_tables,
                    Explainer(strategy_tables, self._explainer),
                    LiveHintScores(strategy_tables, self._scores),
                )
            return self.loaded


class _HintScores:
    """Every candidate's score for a hint: stored where the lookup has it, else live."""

    def __init__(self, stored: lookup.Lookup | None, live: _LazyLive) -> None:
        self._stored = stored
        self._live = live

    def __call__(self, hint: str) -> ScaledRow | None:
        if self._stored is not None:
            found = self._stored.scores(hint)
            if found is not None or self._stored.complete:
                return found
        return self._live.get().scores(hint)


class GameStrategy:
    """The default strategy: :class:`Explainer` and :class:`Guesser` over every view.

    Answers come from the model's stored lookup (:mod:`hatbot.server.lookup`) where it has
    them. The rest (everything, when the lookup is missing or stale) is computed live from the
    views' tables, loaded on first need: the same answers, more slowly.
    """

    name = "default"

    def __init__(
        self,
        model: WordModel,
        explainer: ExplainerParams | None = None,
        scores: ScoreParams | None = None,
        guesser: GuesserParams | None = None,
    ) -> None:
        self.model = model
        self.explainer_params = explainer or ExplainerParams()
        self.score_params = scores or ScoreParams()
        self.guesser_params = guesser or GuesserParams()
        self.lookup = lookup.load(
            model.directory, model.version, self.explainer_params, self.score_params
        )
        self._live = _LazyLive(model, self.explainer_params, self.score_params)
        candidates = self.lookup.candidates if self.lookup else self.live.tables.candidates
        self.guesser = Guesser(
            candidates, _HintScores(self.lookup, self._live), self.guesser_params
        )

    @property
    def answers_live(self) -> bool:
        return self.lookup is None

    @property
    def live(self) -> _Live:
        """The live machinery, loaded on first use."""
        return self._live.get()

    @property
    def live_loaded(self) -> bool:
        """Whether the live machinery was needed and so loaded."""
        return self._live.loaded is not None

    def warm_up(self) -> None:
        if self.lookup is not None:
            self.lookup.warm_up()
        if self._live.loaded is not None:
            self._live.loaded.tables.warm_up()

    def explain(self, word: str, n_words: int) -> list[str]:
        if self.lookup is not None:
            if word in self.lookup:
                return self.lookup.explain(word, n_words)
            if self.lookup.complete:  # no view knows the word
                return []
        return self.live.explainer.explain(word, n_words)

    def guess(self, hints: Sequence[str], n_words: int, criteria: Criteria = "hard") -> list[str]:
        return self.guesser.guess(hints, n_words, criteria)


STRATEGIES: dict[str, type[GameStrategy] | type[BaselineStrategy]] = {
    "default": GameStrategy,
    "baseline": BaselineStrategy,
}


def make_strategy(name: str, model: WordModel) -> Strategy:
    """The strategy called ``name`` over ``model``."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    strategy: Strategy = STRATEGIES[name](model)
    return strategy
