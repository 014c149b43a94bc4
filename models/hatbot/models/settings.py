"""Training settings, importable without the server extra (the CLI shows their defaults)."""

from __future__ import annotations

from dataclasses import dataclass

ALGORITHMS = (
    "word2vec-skipgram",
    "word2vec-cbow",
    "fasttext-skipgram",
    "fasttext-cbow",
    "ppmi-svd",
)
STREAMS = ("content", "all")


@dataclass(frozen=True)
class TrainSettings:
    """How one set of word vectors (a *view* of the corpus) is trained.

    ``stream`` is "content" (stop words removed) or "all" (every token); the other names are
    gensim's (``ppmi-svd`` uses ``window``, ``min_count``, ``vector_size`` and ``seed``).
    ``workers`` > 1 is faster but, as gensim documents, not bit-for-bit reproducible.
    """

    algorithm: str = "word2vec-skipgram"
    stream: str = "content"
    vector_size: int = 200
    window: int = 8
    min_count: int = 5
    negative: int = 10
    sample: float = 1e-4
    epochs: int = 10
    seed: int = 1
    workers: int = 2
