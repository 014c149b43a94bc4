"""The candidate vocabulary and neighbour tables the default strategy plays with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from hatbot import rules
from hatbot.models import neighbours
from hatbot.server.model import Rows, Vector, WordModel


def singular(word: str) -> str:
    """Light plural folding: "disks" -> "disk", "parties" -> "party", "boxes" -> "box".

    Snowball stems are far too coarse to group guesses ("authority" -> "author").
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(frozen=True)
class Candidates:
    """What ranking guesses needs of the candidate words (row ``i`` is ``words[i]``).

    Singular and plural form a group (``group[i]``), guessed as one form: the group's
    ``representative`` under the hard criteria, its ``soft_representative`` under the soft.
    """

    words: Sequence[str]
    log_counts: npt.NDArray[np.float32]
    group: Rows
    representative: Rows
    soft_representative: Rows


class StrategyTables:
    """Views of one model with their neighbour tables over the candidate vocabulary.

    Row ``i`` of every table is candidate word ``words[i]``. Singular and plural form a group,
    guessed as one representative form.
    """

    def __init__(self, views: Mapping[str, WordModel]) -> None:
        main = views[neighbours.MAIN_VIEW]
        self.views = dict(views)
        self.names = list(views)
        words, counts, ngram_knn, tables = neighbours.load(
            main.directory / neighbours.DIRECTORY, self.names
        )
        self.words = words
        self.row = {word: i for i, word in enumerate(words)}
        self.counts = np.asarray(counts, np.int64)
        self.log_counts = np.log(self.counts).astype(np.float32)
        self.tables = tables
        self.ngram_knn = ngram_knn
        self.ngrams, self.ngram_columns = neighbours.ngram_matrix(words)
        self.stems = [rules.stem(word) for word in words]
        self.group, self.representative, self.soft_representative = self._inflection_groups()
        self.candidates = Candidates(
            words, self.log_counts, self.group, self.representative, self.soft_representative
        )

    def _inflection_groups(self) -> tuple[Rows, Rows, Rows]:
        """Group numbers of the candidates and each group's guess, for the hard and the soft
        criteria: the singular when it is a candidate, else the most frequent form; under the
        soft criteria the form that also finds most of the group ("disks" finds "disk" too)."""
        members: dict[str, list[int]] = {}
        for row, word in enumerate(self.words):
            members.setdefault(singular(word), []).append(row)
        group = np.empty(len(self.words), np.int64)
        representative = np.empty(len(members), np.int64)
        soft_representative = np.empty(len(members), np.int64)
        for number, (key, rows) in enumerate(members.items()):
            best = self.row.get(key)
            if best is None:
                best = max(rows, key=lambda row: (self.counts[row], -row))
            representative[number] = best
            soft_representative[number] = max(
                rows, key=lambda guess: (self._soft_cover(guess, rows), guess == best)
            )
            group[rows] = number
        return group, representative, soft_representative

    def _soft_cover(self, guess: int, rows: list[int]) -> int:
        """Occurrences of the words among ``rows`` that a soft host counts ``guess`` for."""
        return sum(
            int(self.counts[row])
            for row in rows
            if rules.is_guessed(self.words[row], [self.words[guess]], "soft")
        )

    def warm_up(self) -> None:
        """Read every view and every table once (they are memory-mapped)."""
        for model in self.views.values():
            model.warm_up()
        for table in self.tables.values():
            for array in vars(table).values():
                float(np.sum(array, dtype=np.float64))
        float(np.sum(self.ngram_knn, dtype=np.float64))

    def vector(self, view: str, word: str) -> Vector | None:
        """``word``'s unit vector in ``view``: a candidate's table row, else the view's own."""
        row = self.row.get(word)
        if row is not None:
            return np.asarray(self.tables[view].vectors[row])
        model = self.views[view]
        model_row = model.row(word)
        return None if model_row is None else model.vector(model_row)

    def ngram_similarities(self, words: Sequence[str]) -> npt.NDArray[np.float32]:
        """Character n-gram cosine between each of ``words`` and every candidate (words x
        candidates); n-grams no candidate has count in a word's norm only."""
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        for row, word in enumerate(words):
            grams = neighbours.char_ngrams(word)
            known = sorted({self.ngram_columns[g] for g in grams if g in self.ngram_columns})
            rows += [row] * len(known)
            columns += known
            values += [1.0 / np.sqrt(len(grams))] * len(known)
        query = sparse.csr_matrix(
            (np.asarray(values, np.float32), (rows, columns)),
            shape=(len(words), self.ngrams.shape[1]),
        )
        similarities = (query @ self.ngrams.T).toarray()
        return np.asarray(similarities, np.float32)


def load_tables(model: WordModel) -> StrategyTables:
    """The tables of ``model``'s directory: its main view and every extra view."""
    if not (model.directory / neighbours.DIRECTORY / neighbours.WORDS).is_file():
        raise ValueError(
            f"{model.directory} has no neighbour tables for the default strategy (an older "
            "model?): retrain it with `hatbot train --force`, or serve it with --strategy baseline"
        )
    views = {neighbours.MAIN_VIEW: model}
    for view in model.manifest.views:
        views[view] = WordModel(model.directory, view)
    return StrategyTables(views)
