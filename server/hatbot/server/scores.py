"""How strongly each candidate word is suggested by one hint: the guesser's evidence.

The score is the mean over the views that know the hint of 2 cos - hub_weight * hub of the
candidate (CSLS-style: words close to everything are not favoured), plus a bonus when the hint
is in the candidate's own neighbour list, plus a character n-gram term. Training stores these
rows for every word (:mod:`hatbot.server.lookup`); :class:`LiveHintScores` computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hatbot.server.tables import StrategyTables

Scores = npt.NDArray[np.float32]
#: A hint's score of every candidate is ``row * scale`` plus a constant, which does not change
#: a ranking (``row`` may be quantised, see :mod:`hatbot.server.lookup`).
ScaledRow = tuple[npt.NDArray[np.int16] | npt.NDArray[np.float32], float]


@dataclass(frozen=True)
class ScoreParams:
    """Weights of a hint's scores (tuned on the development nouns only)."""

    hub_weight: float = 1.8  # CSLS-style: 2 cos - hub_weight * hubness of the candidate
    ngram_weight: float = 0.6  # character n-gram cosine to the hint, as sub-word models see it
    reverse_weight: float = 0.1  # times log(101 / (rank + 1)) when the hint is in the
    # candidate's own neighbour list at that rank


class HintScores(Protocol):
    """Where the guesser gets a hint's scores: computed live, or looked up."""

    def __call__(self, hint: str) -> ScaledRow | None:
        """The scores of every candidate for ``hint``; None when no view knows it."""
        ...


class LiveHintScores:
    """Scores every candidate for a hint from the views' tables: one product per view."""

    def __init__(self, tables: StrategyTables, params: ScoreParams | None = None) -> None:
        self.tables = tables
        self.params = params or ScoreParams()
        self._one = lru_cache(maxsize=1024)(self._compute_one)

    def __call__(self, hint: str) -> ScaledRow | None:
        return self._one(hint)

    def _compute_one(self, hint: str) -> ScaledRow | None:
        rows, known = self.rows([hint])
        return (rows[0], 1.0) if known[0] else None

    def rows(self, hints: Sequence[str]) -> tuple[Scores, npt.NDArray[np.bool_]]:
        """The score rows of ``hints`` (hints x candidates), and which hints a view knows."""
        tables, params = self.tables, self.params
        total = np.zeros((len(hints), len(tables.words)), np.float32)
        known = np.zeros(len(hints), np.float32)
        hint_rows = [tables.row.get(hint) for hint in hints]
        for view in tables.names:
            table = tables.tables[view]
            found = [
                (i, v)
                for i, hint in enumerate(hints)
                if (v := tables.vector(view, hint)) is not None
            ]
            if not found:
                continue
            index = [i for i, _ in found]
            vectors = np.stack([vector for _, vector in found])
            scores = 2.0 * (vectors @ table.vectors.T) - params.hub_weight * table.hub
            if params.reverse_weight:
                for j, i in enumerate(index):
                    row = hint_rows[i]
                    if row is None:
                        continue
                    start, end = int(table.reverse_ptr[row]), int(table.reverse_ptr[row + 1])
                    ranks = table.reverse_ranks[start:end].astype(np.float32)
                    bonus = np.log(table.knn.shape[1] + 1.0) - np.log1p(ranks)
                    scores[j, table.reverse_rows[start:end]] += params.reverse_weight * bonus
            total[index] += scores
            known[index] += 1
        result = total / np.maximum(known, 1)[:, None]
        if params.ngram_weight:
            result += params.ngram_weight * tables.ngram_similarities(hints)
        return result.astype(np.float32), known > 0
