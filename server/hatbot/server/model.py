"""A trained model directory loaded for serving: memory-mapped vectors and Annoy index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from annoy import AnnoyIndex
from gensim.models import KeyedVectors

from hatbot.models import store

Vector = npt.NDArray[np.float32]
Rows = npt.NDArray[np.int64]


class WordModel:
    """Unit word vectors with an Annoy index over the same rows, both memory-mapped.

    Pages are shared between processes serving the same directory and loaded lazily by
    the OS; :meth:`warm_up` touches them once so the first calls are not slow.
    """

    def __init__(self, model_dir: Path, view: str | None = None) -> None:
        """Load the main view of ``model_dir``, or its extra view called ``view``."""
        self.directory = model_dir
        self.manifest = store.read_manifest(model_dir)
        vectors, index = (
            (Path(store.VECTORS), Path(store.INDEX)) if view is None else store.view_files(view)
        )
        self.vectors = KeyedVectors.load(str(model_dir / vectors), mmap="r")
        self.index = AnnoyIndex(self.vectors.vector_size, self.manifest.annoy.metric)
        self.index.load(str(model_dir / index))  # Annoy mmaps the file
        if self.index.get_n_items() != len(self.vectors):
            raise ValueError(f"{model_dir}: index and vectors disagree on the vocabulary size")
        self.words: list[str] = list(self.vectors.index_to_key)
        self.counts = np.asarray(self.vectors.expandos["count"], dtype=np.int64)
        self.search_k = self.manifest.annoy.search_k

    @property
    def version(self) -> str:
        return self.manifest.version

    def row(self, word: str) -> int | None:
        """Row of ``word`` in the vocabulary, None when unknown."""
        row = self.vectors.key_to_index.get(word)
        return None if row is None else int(row)

    def vector(self, row: int) -> Vector:
        return np.asarray(self.vectors.vectors[row])

    def nearest(self, query: Vector, n: int) -> tuple[Rows, npt.NDArray[np.float32]]:
        """Rows of the ``n`` Annoy candidates nearest to ``query``, re-ranked by exact cosine.

        Returns the rows and their cosines, best first; ties keep the vocabulary (frequency)
        order so answers are deterministic.
        """
        norm = float(np.linalg.norm(query))
        if norm == 0.0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        # Annoy returns fewer than n rows when search_k < n * n_trees.
        search_k = max(self.search_k, n * self.manifest.annoy.n_trees)
        rows = np.asarray(self.index.get_nns_by_vector(query, n, search_k=search_k), np.int64)
        rows.sort()
        cosines = (self.vectors.vectors[rows] @ (query / norm)).astype(np.float32)
        order = np.argsort(-cosines, kind="stable")
        return rows[order], cosines[order]

    def warm_up(self) -> None:
        """Read every page of the vectors and run one index query per 100 words."""
        float(np.sum(self.vectors.vectors, dtype=np.float64))
        for row in range(0, len(self.words), 100):
            self.nearest(self.vector(row), 10)
