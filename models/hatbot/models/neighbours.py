"""Neighbour tables of the game strategy, computed once at training time.

Over a shared *candidate vocabulary* (words every view knows, common enough to be hints or
guesses, not stop words) each view gets its vectors restricted to those words, every word's
100 nearest neighbours by Annoy search over them, its hubness (mean cosine to its 10 nearest
neighbours) and the reverse lists (which words have it among their neighbours, at what rank);
a character n-gram table gives the neighbours a sub-word model (FastText) would see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from annoy import AnnoyIndex
from scipy import sparse

from hatbot.models.store import AnnoySettings
from hatbot.models.vocabulary import STOP_WORDS
from hatbot.progress import track

DIRECTORY = "strategy"
MAIN_VIEW = "main"
WORDS = "words.txt"  # the candidate words, one per line: row i of every table
#: Fewer occurrences than this and a word is neither a hint nor a guess.
CANDIDATE_MIN_COUNT = 10
NEIGHBOURS = 100
HUB_NEIGHBOURS = 10
NGRAM_NEIGHBOURS = 20
# Nodes Annoy inspects per table query: recall@100 0.97 on the 20 Newsgroups candidates
# (10 trees), against 0.92 at the serving default of 5000.
TABLE_SEARCH_K = 10_000
_BLOCK = 2048
_LETTERS = re.compile(r"[a-z]{3,}")

Array = npt.NDArray[np.generic]


def is_candidate(word: str, count: int) -> bool:
    """Whether ``word`` may be a hint or a guess: three or more letters, common, no stop word."""
    return (
        count >= CANDIDATE_MIN_COUNT and bool(_LETTERS.fullmatch(word)) and word not in STOP_WORDS
    )


def char_ngrams(word: str) -> set[str]:
    """FastText's character 3- to 5-grams of ``<word>``."""
    marked = f"<{word}>"
    return {marked[i : i + n] for n in range(3, 6) for i in range(len(marked) - n + 1)}


def ngram_matrix(words: list[str]) -> tuple[sparse.csr_matrix, dict[str, int]]:
    """Unit rows of a words x character n-grams incidence matrix, and the n-gram columns."""
    columns: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, word in enumerate(words):
        for gram in sorted(char_ngrams(word)):
            rows.append(row)
            cols.append(columns.setdefault(gram, len(columns)))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(words), len(columns))
    )
    norms = np.sqrt(np.asarray(matrix.sum(axis=1)).ravel())
    unit = sparse.diags(1.0 / np.maximum(norms, 1e-9)) @ matrix
    return sparse.csr_matrix(unit, dtype=np.float32), columns


def top_k(similarity: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    """Columns of the ``k`` largest entries of each row, largest first (ties: lowest column)."""
    if k == 0:
        return np.empty((len(similarity), 0), np.int64)
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    order = np.lexsort((top, -np.take_along_axis(similarity, top, axis=1)), axis=1)
    return np.take_along_axis(top, order, axis=1)


@dataclass(frozen=True)
class ViewTables:
    """One view's tables over the candidate vocabulary (row ``i`` is candidate word ``i``)."""

    vectors: npt.NDArray[np.float32]  # (V, d) unit vectors
    knn: npt.NDArray[np.int32]  # (V, NEIGHBOURS) nearest candidates, nearest first
    hub: npt.NDArray[np.float32]  # (V,) mean cosine to the HUB_NEIGHBOURS nearest
    reverse_ptr: npt.NDArray[np.int64]  # (V + 1,) CSR pointers into reverse_rows/ranks
    reverse_rows: npt.NDArray[np.int32]  # words whose knn lists contain the word
    reverse_ranks: npt.NDArray[np.int16]  # the word's rank in each of those lists


def _nearest(index: AnnoyIndex, vectors: npt.NDArray[np.float32], row: int, k: int) -> list[int]:
    """The ``k`` rows nearest to ``row`` by Annoy, completed exactly if Annoy stops short."""
    found = [r for r in index.get_nns_by_item(row, k + 1, search_k=TABLE_SEARCH_K) if r != row]
    if len(found) < k:
        exact = np.argsort(-(vectors @ vectors[row]), kind="stable").tolist()
        found += [r for r in exact if r != row and r not in found]
    return found[:k]


def annoy_index(vectors: npt.NDArray[np.float32], annoy: AnnoySettings, seed: int) -> AnnoyIndex:
    """An Annoy index whose item ``i`` is row ``i`` of ``vectors``."""
    index = AnnoyIndex(vectors.shape[1], annoy.metric)
    index.set_seed(seed)
    for row, vector in enumerate(vectors):
        index.add_item(row, vector)
    index.build(annoy.n_trees, n_jobs=1)
    return index


def view_tables(
    vectors: npt.NDArray[np.float32], annoy: AnnoySettings, seed: int, desc: str = "tables"
) -> ViewTables:
    """Neighbour tables of unit ``vectors`` from an Annoy index over them; ``desc`` names
    the loop over the words in progress reports."""
    size = len(vectors)
    k = max(0, min(NEIGHBOURS, size - 1))
    index = annoy_index(vectors, annoy, seed)
    knn = np.empty((size, k), np.int32)
    hub = np.zeros(size, np.float32)
    for row in track(range(size), desc, unit="word"):
        knn[row] = _nearest(index, vectors, row, k)
        if k:
            hub[row] = float(np.mean(vectors[knn[row, :HUB_NEIGHBOURS]] @ vectors[row]))
    flat = knn.ravel()
    order = np.argsort(flat, kind="stable")
    pointers = np.zeros(size + 1, np.int64)
    np.cumsum(np.bincount(flat, minlength=size), out=pointers[1:])
    owners = np.repeat(np.arange(size, dtype=np.int32), k)[order]
    ranks = np.tile(np.arange(k, dtype=np.int16), size)[order]
    return ViewTables(vectors, knn, hub, pointers, owners, ranks)


def ngram_neighbours(words: list[str]) -> npt.NDArray[np.int32]:
    """Each word's NGRAM_NEIGHBOURS nearest words by character n-gram cosine."""
    matrix, _ = ngram_matrix(words)
    transposed = matrix.T.tocsr()
    k = max(0, min(NGRAM_NEIGHBOURS, len(words) - 1))
    table = np.empty((len(words), k), np.int32)
    blocks = range(0, len(words), _BLOCK // 2)
    for start in track(blocks, "tables n-grams", unit="block"):
        similarity = (matrix[start : start + _BLOCK // 2] @ transposed).toarray()
        rows = np.arange(len(similarity))
        similarity[rows, start + rows] = -1.0
        table[start : start + _BLOCK // 2] = top_k(similarity, k)
    return table


def candidate_vocabulary(
    words: list[str], counts: Array, views: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """Candidate words of the main view (in its order) that every view knows."""
    return [
        word
        for word, count in zip(words, counts, strict=True)
        if is_candidate(word, int(count)) and all(word in index for index in views.values())
    ]


def save(
    directory: Path,
    words: list[str],
    counts: Array,
    tables: Mapping[str, ViewTables],
) -> None:
    """Write the tables as ``.npy`` files (memory-mapped when served) and ``words.txt``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / WORDS).write_text("\n".join(words) + "\n", encoding="utf-8")
    np.save(directory / "counts.npy", np.asarray(counts, np.int64))
    np.save(directory / "ngram_knn.npy", ngram_neighbours(words))
    for view, table in tables.items():
        for name, array in vars(table).items():
            np.save(directory / f"{view}.{name}.npy", array)


def read_words(directory: Path) -> list[str]:
    """The candidate words of the tables in ``directory``, in row order."""
    return (directory / WORDS).read_text(encoding="utf-8").split()


def load(
    directory: Path, views: list[str]
) -> tuple[list[str], Array, Array, dict[str, ViewTables]]:
    """Words, counts, n-gram neighbours and per-view tables, arrays memory-mapped."""

    def mapped(name: str) -> Any:
        # A plain ndarray over the mapping: np.memmap's subclass hooks cost time on every op.
        return np.asarray(np.load(directory / f"{name}.npy", mmap_mode="r"))

    words = read_words(directory)
    counts = np.load(directory / "counts.npy")
    tables = {
        view: ViewTables(
            **{name: mapped(f"{view}.{name}") for name in ViewTables.__dataclass_fields__}
        )
        for view in views
    }
    ngram_knn = mapped("ngram_knn")
    return words, counts, ngram_knn, tables
