"""The default explainer: hints chosen greedily against simulated opponents' guessers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hatbot import rules
from hatbot.models import neighbours
from hatbot.server.model import Vector
from hatbot.server.tables import StrategyTables

Rows = npt.NDArray[np.int64]
_TIE_BREAK = 1e-3


@dataclass(frozen=True)
class ExplainerParams:
    """Sizes and weights of the explainer (tuned on the development nouns only)."""

    pool_neighbours: int = 100  # the word's nearest candidates per view that may become hints
    pool_size: int = 40  # pool kept after scoring each word as a first hint
    competitor_neighbours: int = 100  # the word's neighbours per view a guesser may answer
    competitors_per_hint: int = 8  # and each hint's own nearest neighbours per view
    reverse_max_rank: int = 30  # words with the secret word this high in their lists join
    hint_min_count: int = 20
    rare_penalty: float = 0.3  # per unit of log count below preferred_count
    preferred_count: int = 100
    subword_weight: float = 2.5  # weight of a simulated sub-word (FastText-like) guesser
    subword_share: float = 0.15  # its score: (1 - share) * cos(subword_view) + share * n-grams
    subword_view: str = "ft"
    ngram_competitors: int = 10  # each hint's n-gram neighbours a sub-word guesser may answer
    greedy_steps: int = 5  # hints chosen by the full simulation; later ones keep that order


class Explainer:
    """Orders hints so that every prefix of the list points at the word.

    Candidates are the word's neighbours in every view, plus the words that have it high among
    their own neighbours (a guesser searches from the hint, not from the word). Each next hint
    is the one that, added to those chosen, leaves the fewest competitors closer than the word
    to the hints' mean, summed over simulated guessers in every view: the first hint carries
    the most, the later ones separate the word from the guessers' current wrong answers.
    """

    def __init__(self, tables: StrategyTables, params: ExplainerParams | None = None) -> None:
        self.tables = tables
        self.params = params or ExplainerParams()
        log_counts = tables.log_counts
        self.rarity = self.params.rare_penalty * np.maximum(
            0.0, np.log(self.params.preferred_count) - log_counts
        )

    def _neighbours(self, view: str, row: int | None, vector: Vector, k: int) -> Rows:
        """The word's k nearest candidates in ``view`` (from the tables when it is one)."""
        table = self.tables.tables[view]
        if row is not None and k <= table.knn.shape[1]:
            return np.asarray(table.knn[row, :k], np.int64)
        similarity = table.vectors @ vector
        if row is not None:
            similarity[row] = -np.inf
        return neighbours.top_k(similarity[None, :], min(k, len(similarity) - 1)).ravel()

    def _pool_and_competitors(
        self, word: str, row: int | None, vectors: dict[str, Vector]
    ) -> tuple[Rows, set[int]]:
        params, tables = self.params, self.tables
        pool: set[int] = set()
        competitors: set[int] = set()
        for view, vector in vectors.items():
            nearest = self._neighbours(view, row, vector, params.competitor_neighbours)
            competitors.update(nearest.tolist())
            pool.update(nearest[: params.pool_neighbours].tolist())
            if row is not None:
                table = tables.tables[view]
                start, end = int(table.reverse_ptr[row]), int(table.reverse_ptr[row + 1])
                close = np.asarray(table.reverse_ranks[start:end]) < params.reverse_max_rank
                pool.update(np.asarray(table.reverse_rows[start:end])[close].tolist())
        pool.discard(-1 if row is None else row)
        valid = sorted(
            r
            for r in pool
            if tables.counts[r] >= params.hint_min_count
            and rules.is_legal_hint(tables.words[r], word)
        )
        return np.array(valid, np.int64), competitors

    def _not_matching(self, competitors: set[int], word: str, row: int | None) -> Rows:
        """Competitors that would not count as finding ``word`` in the soft criterion."""
        words = self.tables.words
        # A guess containing the word is len(guess) - len(word) edits from it.
        return np.array(
            sorted(
                r
                for r in competitors
                if r != row
                and not (word in words[r] and len(words[r]) - len(word) < rules.MAX_GUESS_DISTANCE)
            ),
            np.int64,
        )

    def _first_hint_scores(
        self, pool: Rows, competitors: Rows, vectors: dict[str, Vector]
    ) -> npt.NDArray[np.float64]:
        """Sum over views of log(1 + competitors nearer than the word to each pool word)."""
        scores = np.zeros(len(pool))
        for view, vector in vectors.items():
            table = self.tables.tables[view]
            hints = table.vectors[pool]
            beats = (hints @ table.vectors[competitors].T) > (hints @ vector)[:, None]
            beats &= competitors[None, :] != pool[:, None]
            scores += np.log1p(beats.sum(axis=1))
        return scores

    def explain(self, word: str, n_words: int) -> list[str]:
        """Up to ``n_words`` hints for the lowercase ``word``, strongest first."""
        tables, params = self.tables, self.params
        found = {view: tables.vector(view, word) for view in tables.names}
        vectors = {view: vector for view, vector in found.items() if vector is not None}
        if not vectors:
            return []
        row = tables.row.get(word)
        pool, competitor_set = self._pool_and_competitors(word, row, vectors)
        if len(pool) == 0:
            return []
        rarity = self.rarity
        if len(pool) > params.pool_size:
            competitor_set.update(pool.tolist())
            first = self._first_hint_scores(
                pool, self._not_matching(competitor_set, word, row), vectors
            )
            keep = np.sort(np.argsort(first + rarity[pool], kind="stable")[: params.pool_size])
            pool = pool[keep]
        competitor_set.update(pool.tolist())
        for view in vectors:
            knn = tables.tables[view].knn
            competitor_set.update(
                np.asarray(knn[pool, : params.competitors_per_hint]).ravel().tolist()
            )
        subword = params.subword_weight > 0
        if subword:
            ngram_knn = np.asarray(tables.ngram_knn[pool, : params.ngram_competitors])
            competitor_set.update(ngram_knn.ravel().tolist())
        competitors = self._not_matching(competitor_set, word, row)
        return self._greedy(word, pool, competitors, vectors, n_words, rarity[pool], subword)

    def _greedy(
        self,
        word: str,
        pool: Rows,
        competitors: Rows,
        vectors: dict[str, Vector],
        n_words: int,
        rarity: npt.NDArray[np.float64],
        subword: bool,
    ) -> list[str]:
        tables, params = self.tables, self.params
        # Per simulated guesser: similarity of each pool word to each competitor and the word.
        to_competitors: dict[str, npt.NDArray[np.float32]] = {}
        to_word: dict[str, npt.NDArray[np.float32]] = {}
        weight: dict[str, float] = {}
        for view, vector in vectors.items():
            table = tables.tables[view]
            to_competitors[view] = table.vectors[pool] @ table.vectors[competitors].T
            to_word[view] = table.vectors[pool] @ vector
            weight[view] = 1.0
        if subword:
            base = params.subword_view if params.subword_view in vectors else list(vectors)[-1]
            share = params.subword_share
            grams = (tables.ngrams[pool] @ tables.ngrams[competitors].T).toarray()
            to_competitors["subword"] = (1 - share) * to_competitors[base] + share * grams
            word_grams = tables.ngram_similarities([word])[0, pool]
            to_word["subword"] = (1 - share) * to_word[base] + share * word_grams
            weight["subword"] = params.subword_weight
        position = np.searchsorted(competitors, pool)
        clipped = np.minimum(position, len(competitors) - 1)
        in_competitors = (position < len(competitors)) & (competitors[clipped] == pool)
        rows = np.nonzero(in_competitors)[0]

        # A competitor c beats the word after hints H plus candidate j when
        #   sum_H sim(h, c) + sim(j, c) > sum_H sim(h, word) + sim(j, word),
        # i.e. when margin[j, c] = sim(j, c) - sim(j, word) exceeds the running threshold
        # sum_H (sim(h, word) - sim(h, c)). A hint never competes with itself (margin -inf),
        # nor does a chosen hint later (threshold +inf).
        margins: dict[str, npt.NDArray[np.float32]] = {}
        for guesser, similarity in to_competitors.items():
            margin = np.asarray(similarity - to_word[guesser][:, None], np.float32)
            margin[rows, position[rows]] = -np.inf
            margins[guesser] = margin
        thresholds = {g: np.zeros(len(competitors), np.float32) for g in margins}

        # Ties (say, the word already first for every guesser) go to the closest hint.
        closeness = sum(to_word[view] for view in vectors) / len(vectors)
        rarity = rarity - _TIE_BREAK * closeness
        available = np.ones(len(pool), bool)
        hints: list[str] = []
        objective = np.zeros(len(pool))
        while len(hints) < n_words and available.any():
            if len(hints) < params.greedy_steps:
                objective = rarity.astype(np.float64).copy()
                for guesser, margin in margins.items():
                    closer = np.count_nonzero(margin > thresholds[guesser], axis=1)
                    objective += weight[guesser] * np.log1p(closer)
            objective[~available] = np.inf
            best = int(np.argmin(objective))
            hint = tables.words[pool[best]]
            hints.append(hint)
            for guesser, margin in margins.items():
                thresholds[guesser] -= margin[best]
            if in_competitors[best]:
                for threshold in thresholds.values():
                    threshold[position[best]] = np.inf
            for j in np.nonzero(available)[0]:
                if j == best or not rules.is_legal_hint(tables.words[pool[j]], hint):
                    available[j] = False
        return hints
