"""Count-based word vectors: positive PMI of windowed co-occurrences, reduced by truncated SVD."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.linalg import svds

from hatbot.progress import track

# Context-distribution smoothing (Levy, Goldberg & Dagan 2015): damps PMI of rare contexts.
CONTEXT_ALPHA = 0.75


def cooccurrences(
    text: Sequence[list[str]], vocabulary: dict[str, int], window: int, desc: str = "co-occurrences"
) -> sparse.csr_matrix:
    """Symmetric co-occurrence counts within ``window`` words, weighted 1/distance; ``desc``
    names the loop over the sentences in progress reports."""
    size = len(vocabulary)
    total = sparse.csr_matrix((size, size), dtype=np.float64)
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    weights: list[npt.NDArray[np.float64]] = []
    pending = 0
    for sentence in track(text, desc, unit="sentence"):
        ids = np.fromiter((vocabulary.get(t, -1) for t in sentence), np.int64, len(sentence))
        ids = ids[ids >= 0]
        for distance in range(1, min(window, len(ids) - 1) + 1):
            left, right = ids[:-distance], ids[distance:]
            rows += [left, right]
            cols += [right, left]
            weights += [np.full(2 * len(left), 1.0 / distance)]
            pending += 2 * len(left)
        if pending > 20_000_000:  # fold into the sparse total to bound memory
            total += _coo(rows, cols, weights, size)
            rows, cols, weights, pending = [], [], [], 0
    if rows:
        total += _coo(rows, cols, weights, size)
    return total


def _coo(
    rows: list[npt.NDArray[np.int64]],
    cols: list[npt.NDArray[np.int64]],
    weights: list[npt.NDArray[np.float64]],
    size: int,
) -> sparse.csr_matrix:
    return sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size, size),
    )


def ppmi(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """Positive pointwise mutual information of a co-occurrence matrix."""
    coo = counts.tocoo()
    total = coo.data.sum()
    word_p = np.asarray(counts.sum(axis=1)).ravel() / total
    context = np.asarray(counts.sum(axis=0)).ravel() ** CONTEXT_ALPHA
    context_p = context / context.sum()
    pmi = np.log(coo.data / total) - np.log(word_p[coo.row]) - np.log(context_p[coo.col])
    keep = pmi > 0
    return sparse.csr_matrix(
        (pmi[keep].astype(np.float32), (coo.row[keep], coo.col[keep])), shape=counts.shape
    )


def ppmi_vectors(
    text: Sequence[list[str]],
    *,
    min_count: int,
    window: int,
    dimensions: int,
    seed: int,
    desc: str = "co-occurrences",
) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Words (most frequent first), their counts and PPMI-SVD vectors ``U * sqrt(S)``;
    ``desc`` names the counting in progress reports."""
    frequency = Counter(token for sentence in text for token in sentence)
    words = sorted(
        (w for w, c in frequency.items() if c >= min_count), key=lambda w: (-frequency[w], w)
    )
    if len(words) < 3:
        raise ValueError(f"fewer than 3 words occur {min_count} times in the corpus")
    matrix = ppmi(cooccurrences(text, {w: i for i, w in enumerate(words)}, window, desc))
    rank = min(dimensions, len(words) - 2)
    start = np.random.default_rng(seed).standard_normal(len(words))  # deterministic ARPACK
    u, s, _ = svds(matrix, k=rank, v0=start)
    order = np.argsort(-s)
    vectors = (u[:, order] * np.sqrt(s[order])).astype(np.float32)
    counts = np.array([frequency[w] for w in words], np.int64)
    return words, counts, vectors
