"""The default guesser: evidence of every hint in every view, corrected for hub words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from hatbot import rules
from hatbot.models import neighbours
from hatbot.rules import Criteria
from hatbot.server.tables import StrategyTables

Scores = npt.NDArray[np.float32]


def possible(word: str, hint: str, criteria: Criteria) -> bool:
    """Whether ``word`` can be the secret word once the host has kept ``hint``.

    Both modes drop hints containing the word or within two edits of it; the hard mode also
    drops hints sharing its stem or contained in it. The soft mode keeps those (``protect`` for
    ``protection``), and opponents' explainers give them often.
    """
    if criteria == "hard":
        return rules.is_legal_hint(word, hint)
    return word not in hint and rules.edit_distance(word, hint) >= rules.MIN_EDIT_DISTANCE


@dataclass(frozen=True)
class GuesserParams:
    """Weights of the guesser's score (tuned on the development nouns only)."""

    hint_decay: float = 0.15  # hint i weighs 1 / (1 + decay * (i - 1)): earlier hints are stronger
    frequency_prior: float = 0.1  # times log(count): secret words are common words
    hub_weight: float = 1.8  # CSLS-style: 2 cos - hub_weight * hubness of the candidate
    ngram_weight: float = 0.6  # character n-gram cosine to the hint, as sub-word models see it
    reverse_weight: float = 0.1  # times log(101 / (rank + 1)) when the hint is in the
    # candidate's own neighbour list at that rank


class Guesser:
    """Scores each candidate by the summed, hub-corrected similarity to every hint.

    A candidate related to all hints beats one close to a single hint, and a candidate that has
    the hint among its own nearest neighbours gains a little. Guesses are one form per
    singular/plural group; nothing the hints make impossible under the host's criteria is
    guessed (see :func:`possible`). A guesser still asked after hint i has guessed wrong so far,
    so its own (deterministic) guesses for the shorter prefixes are not repeated.
    """

    def __init__(self, tables: StrategyTables, params: GuesserParams | None = None) -> None:
        self.tables = tables
        self.params = params or GuesserParams()
        self._hint_scores = lru_cache(maxsize=1024)(self._compute_hint_scores)
        self._guesses = lru_cache(maxsize=1024)(self._compute_guesses)

    def _compute_hint_scores(self, hint: str) -> Scores | None:
        """Mean over the views that know ``hint`` of 2 cos - hub_weight * hub, per candidate."""
        total: Scores | None = None
        known = 0
        row = self.tables.row.get(hint)
        for view in self.tables.names:
            vector = self.tables.vector(view, hint)
            if vector is None:
                continue
            table = self.tables.tables[view]
            scores = 2.0 * (table.vectors @ vector) - self.params.hub_weight * table.hub
            if row is not None and self.params.reverse_weight:
                start, end = int(table.reverse_ptr[row]), int(table.reverse_ptr[row + 1])
                ranks = table.reverse_ranks[start:end].astype(np.float32)
                bonus = np.log(table.knn.shape[1] + 1.0) - np.log1p(ranks)
                scores[table.reverse_rows[start:end]] += self.params.reverse_weight * bonus
            total = scores if total is None else total + scores
            known += 1
        if total is None:
            return None
        result = total / known
        if self.params.ngram_weight:
            result = result + self.params.ngram_weight * self.tables.ngram_similarities(hint)
        return result.astype(np.float32)

    def _compute_guesses(
        self, hints: tuple[str, ...], n_words: int, criteria: Criteria
    ) -> tuple[str, ...]:
        banned: set[int] = set()
        for end in range(1, len(hints)):
            for word in self._guesses(hints[:end], n_words, criteria):
                banned.add(int(self.tables.group[self.tables.row[word]]))
        return tuple(self._rank(hints, n_words, banned, criteria))

    def _rank(
        self, hints: tuple[str, ...], n_words: int, banned: set[int], criteria: Criteria
    ) -> list[str]:
        total: Scores | None = None
        for position, hint in enumerate(hints):
            scores = self._hint_scores(hint)
            if scores is not None:
                weighted = scores / (1.0 + self.params.hint_decay * position)
                total = weighted if total is None else total + weighted
        if total is None or len(total) == 0:
            return []
        total = total + self.params.frequency_prior * self.tables.log_counts
        representative = (
            self.tables.soft_representative if criteria == "soft" else self.tables.representative
        )
        groups = np.full(len(representative), -np.inf, np.float32)
        np.maximum.at(groups, self.tables.group, total)
        top = neighbours.top_k(groups[None, :], min(len(groups), 8 * n_words + 40)).ravel()
        guesses: list[str] = []
        for group in top:
            if int(group) in banned or groups[group] == -np.inf:
                continue
            word = self.tables.words[representative[group]]
            if all(possible(word, hint, criteria) for hint in hints):
                guesses.append(word)
                if len(guesses) == n_words:
                    break
        return guesses

    def guess(self, hints: Sequence[str], n_words: int, criteria: Criteria = "hard") -> list[str]:
        """Up to ``n_words`` guesses for normalised ``hints``, best first."""
        return list(self._guesses(tuple(hints), n_words, criteria))
