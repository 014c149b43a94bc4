"""The default strategy's neighbour tables, built at training time."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hatbot.models import neighbours
from hatbot.models.store import AnnoySettings


def unit_vectors(n: int, d: int, seed: int = 0) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    unit: npt.NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def test_view_tables_match_exact_search() -> None:
    vectors = unit_vectors(300, 8)
    tables = neighbours.view_tables(vectors, AnnoySettings(n_trees=10, search_k=5000), seed=1)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    exact = np.argsort(-similarity, axis=1, kind="stable")[:, : neighbours.NEIGHBOURS]
    assert tables.knn.shape == (300, neighbours.NEIGHBOURS)
    assert not (tables.knn == np.arange(300)[:, None]).any()  # no word is its own neighbour
    recall = np.mean(
        [len(set(a) & set(b)) / len(b) for a, b in zip(tables.knn, exact, strict=True)]
    )
    assert recall > 0.97
    nearest = np.take_along_axis(similarity, tables.knn[:, :10], axis=1)
    assert np.allclose(tables.hub, nearest.mean(axis=1), atol=1e-5)
    # every neighbour row is sorted nearest first
    ordered = np.take_along_axis(similarity, tables.knn, axis=1)
    assert (np.diff(ordered, axis=1) <= 1e-6).all()


def test_reverse_lists_invert_the_neighbour_lists() -> None:
    tables = neighbours.view_tables(unit_vectors(60, 4), AnnoySettings(n_trees=5), seed=2)
    for word in range(60):
        start, end = tables.reverse_ptr[word], tables.reverse_ptr[word + 1]
        for owner, rank in zip(
            tables.reverse_rows[start:end], tables.reverse_ranks[start:end], strict=True
        ):
            assert tables.knn[owner, rank] == word
    assert tables.reverse_ptr[-1] == tables.knn.size


def test_tiny_vocabularies_give_complete_or_empty_tables() -> None:
    three = neighbours.view_tables(unit_vectors(3, 4), AnnoySettings(n_trees=2), seed=3)
    assert sorted(three.knn[0].tolist()) == [1, 2]
    none = neighbours.view_tables(unit_vectors(1, 4), AnnoySettings(n_trees=2), seed=3)
    assert none.knn.shape == (1, 0)
