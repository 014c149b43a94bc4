"""Annoy recall@k against exact cosine search, over a grid of n_trees and search_k.

    python benchmarks/annoy_recall.py --model var/models/20news [--queries 1000] [--k 10]

Builds a temporary index per n_trees from the model's vectors, queries a seeded sample of
vocabulary words, and prints recall@k (share of the exact top k that Annoy returns), mean
query time and index size, so the defaults can be chosen as a measured trade-off.

``--saved-index`` queries the model's own index.ann instead of building one, so two builds of
annoy (say portable and ``-march=native``, in two virtualenvs) are timed on the same index;
``--repeat N`` keeps the fastest of N passes over the queries.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import annoy
import numpy as np
import numpy.typing as npt
from annoy import AnnoyIndex
from gensim.models import KeyedVectors

from hatbot.models import store
from hatbot.models.neighbours import annoy_index
from hatbot.models.store import AnnoySettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="trained model directory")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--n-trees", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--search-k", type=int, nargs="+", default=[200, 500, 1000, 2000, 5000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--saved-index", action="store_true", help="query the model's index.ann (its n_trees)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="passes; the fastest is shown")
    args = parser.parse_args()

    vectors = KeyedVectors.load(str(args.model / store.VECTORS), mmap="r").vectors
    rows = random.Random(args.seed).sample(range(len(vectors)), min(args.queries, len(vectors)))
    queries = np.asarray(vectors[rows])
    exact = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, : args.k]

    print(f"{len(vectors)} vectors of {vectors.shape[1]} dims, {len(rows)} queries, k={args.k}")
    print(f"annoy from {Path(annoy.__file__).parent}")
    print("| n_trees | search_k | recall@k | ms/query | index MB |")
    print("|---:|---:|---:|---:|---:|")
    for n_trees, index, size_mb in indexes(args, vectors):
        for search_k in args.search_k:
            timings = []
            for _ in range(args.repeat):
                found = 0
                started = time.perf_counter()
                for query, truth in zip(queries, exact, strict=True):
                    got = index.get_nns_by_vector(query, args.k, search_k=search_k)
                    found += len(set(got) & set(truth.tolist()))
                timings.append((time.perf_counter() - started) * 1000 / len(rows))
            recall = found / (len(rows) * args.k)
            print(f"| {n_trees} | {search_k} | {recall:.3f} | {min(timings):.3f} | {size_mb:.1f} |")


def indexes(
    args: argparse.Namespace, vectors: npt.NDArray[np.float32]
) -> Iterator[tuple[int, AnnoyIndex, float]]:
    """(n_trees, index, size in MB): the model's saved index, or one built per --n-trees."""
    if args.saved_index:
        path = args.model / store.INDEX
        manifest = store.read_manifest(args.model)
        index = AnnoyIndex(vectors.shape[1], manifest.annoy.metric)
        index.load(str(path))
        yield manifest.annoy.n_trees, index, path.stat().st_size / 1e6
        return
    for n_trees in args.n_trees:
        index = annoy_index(vectors, AnnoySettings(n_trees=n_trees), args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            index.save(f"{tmp}/index.ann")
            size_mb = Path(f"{tmp}/index.ann").stat().st_size / 1e6
        yield n_trees, index, size_mb


if __name__ == "__main__":
    main()
