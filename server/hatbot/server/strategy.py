"""Answer strategies: how hint words and guesses are chosen from a loaded model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from gensim.parsing.preprocessing import STOPWORDS

from hatbot import rules
from hatbot.server.model import WordModel


class Strategy(Protocol):
    """Chooses hints for a word and guesses for hints; deterministic for a given model."""

    name: str

    def explain(self, word: str, n_words: int) -> list[str]:
        """Up to ``n_words`` hints for ``word`` (lowercase letters), strongest first."""
        ...

    def guess(self, hints: Sequence[str], n_words: int) -> list[str]:
        """Up to ``n_words`` guesses for the word behind ``hints`` (normalised), best first."""
        ...


def _pool_size(n_words: int) -> int:
    """Annoy candidates fetched to end up with ``n_words`` answers after filtering."""
    return max(100, 10 * n_words)


class BaselineStrategy:
    """The original starter strategy, kept as the yardstick: plain nearest neighbours.

    Explain returns the word's nearest neighbours; guess the nearest neighbours of the mean of
    the hint vectors. Nothing is filtered beyond the word itself and the hints.
    """

    name = "baseline"

    def __init__(self, model: WordModel) -> None:
        self.model = model

    def explain(self, word: str, n_words: int) -> list[str]:
        row = self.model.row(word)
        if row is None:
            return []
        rows, _ = self.model.nearest(self.model.vector(row), n_words + 1)
        return [self.model.words[r] for r in rows if r != row][:n_words]

    def guess(self, hints: Sequence[str], n_words: int) -> list[str]:
        known = [r for r in map(self.model.row, hints) if r is not None]
        if not known:
            return []
        query = np.mean([self.model.vector(r) for r in known], axis=0)
        rows, _ = self.model.nearest(query, n_words + len(known))
        return [self.model.words[r] for r in rows if r not in known][:n_words]


class NeighbourStrategy:
    """Nearest neighbours restricted to words a host accepts and a player can know.

    Hints and guesses are common corpus words (``min_count`` occurrences or more, at least
    three letters, not stop words). Every hint survives the host's cleaning in both modes and
    no two hints share a stem; guesses exclude anything the hints make impossible.
    """

    name = "default"

    def __init__(self, model: WordModel, min_count: int = 10) -> None:
        self.model = model
        lengths = np.fromiter(map(len, model.words), np.int64, len(model.words))
        stop = np.fromiter((w in STOPWORDS for w in model.words), bool, len(model.words))
        self.answerable = (model.counts >= min_count) & (lengths >= 3) & ~stop

    def _candidates(self, query: np.ndarray, n_words: int) -> list[str]:
        rows, _ = self.model.nearest(query, _pool_size(n_words))
        return [self.model.words[r] for r in rows if self.answerable[r]]

    def explain(self, word: str, n_words: int) -> list[str]:
        row = self.model.row(word)
        if row is None:
            return []
        hints: list[str] = []
        stems: set[str] = set()
        for hint in self._candidates(self.model.vector(row), n_words):
            stem = rules.stem(hint)
            if stem not in stems and rules.is_legal_hint(word, hint):
                hints.append(hint)
                stems.add(stem)
                if len(hints) == n_words:
                    break
        return hints

    def guess(self, hints: Sequence[str], n_words: int) -> list[str]:
        known = [r for r in map(self.model.row, hints) if r is not None]
        if not known:
            return []
        query = np.mean([self.model.vector(r) for r in known], axis=0)
        guesses: list[str] = []
        for word in self._candidates(query, n_words + len(hints)):
            if all(rules.is_legal_hint(word, hint) for hint in hints):
                guesses.append(word)
                if len(guesses) == n_words:
                    break
        return guesses


STRATEGIES = {"default": NeighbourStrategy, "baseline": BaselineStrategy}


def make_strategy(name: str, model: WordModel) -> Strategy:
    """The strategy called ``name`` over ``model``."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    strategy: Strategy = STRATEGIES[name](model)
    return strategy
