"""Answer strategies: how hint words and guesses are chosen from a loaded model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from hatbot.rules import Criteria
from hatbot.server import explanations
from hatbot.server.explainer import Explainer, ExplainerParams
from hatbot.server.guesser import Guesser, GuesserParams
from hatbot.server.model import WordModel
from hatbot.server.tables import load_tables


class Strategy(Protocol):
    """Chooses hints for a word and guesses for hints; deterministic for a given model."""

    name: str

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


class GameStrategy:
    """The default strategy: :class:`Explainer` and :class:`Guesser` over every view.

    Explain looks up the model's precomputed explanations (:mod:`hatbot.server.explanations`)
    when it has current ones for the word, and computes the same answer live otherwise.
    """

    name = "default"

    def __init__(
        self,
        model: WordModel,
        explainer: ExplainerParams | None = None,
        guesser: GuesserParams | None = None,
    ) -> None:
        self.tables = load_tables(model)
        self.explainer = Explainer(self.tables, explainer)
        self.guesser = Guesser(self.tables, guesser)
        self.explanations = explanations.load(model, self.tables.words, self.explainer.params)

    def warm_up(self) -> None:
        self.tables.warm_up()

    def explain(self, word: str, n_words: int) -> list[str]:
        row = self.tables.row.get(word)
        if self.explanations is not None and row is not None:
            return self.explanations.explain(row, n_words)
        return self.explainer.explain(word, n_words)

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
