"""Annoy recall@k against exact cosine search, over a grid of n_trees and search_k.

    python benchmarks/annoy_recall.py --model var/models/20news [--queries 1000] [--k 10]

Builds a temporary index per n_trees from the model's vectors, queries a seeded sample of
vocabulary words, and prints recall@k (share of the exact top k that Annoy returns), mean
query time and index size, so the defaults can be chosen as a measured trade-off.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
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
    args = parser.parse_args()

    vectors = KeyedVectors.load(str(args.model / store.VECTORS), mmap="r").vectors
    rows = random.Random(args.seed).sample(range(len(vectors)), min(args.queries, len(vectors)))
    queries = np.asarray(vectors[rows])
    exact = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, : args.k]

    print(f"{len(vectors)} vectors of {vectors.shape[1]} dims, {len(rows)} queries, k={args.k}")
    print("| n_trees | search_k | recall@k | ms/query | index MB |")
    print("|---:|---:|---:|---:|---:|")
    for n_trees in args.n_trees:
        index = annoy_index(vectors, AnnoySettings(n_trees=n_trees), args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            index.save(f"{tmp}/index.ann")
            size_mb = Path(f"{tmp}/index.ann").stat().st_size / 1e6
        for search_k in args.search_k:
            found = 0
            started = time.perf_counter()
            for query, truth in zip(queries, exact, strict=True):
                got = index.get_nns_by_vector(query, args.k, search_k=search_k)
                found += len(set(got) & set(truth.tolist()))
            elapsed_ms = (time.perf_counter() - started) * 1000 / len(rows)
            recall = found / (len(rows) * args.k)
            print(f"| {n_trees} | {search_k} | {recall:.3f} | {elapsed_ms:.3f} | {size_mb:.1f} |")


if __name__ == "__main__":
    main()
