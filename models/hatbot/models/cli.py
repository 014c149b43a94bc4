"""``hatbot train``: train a model from a corpus and publish it to a directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hatbot import arguments

#: Computes what serving looks up in a complete model directory, with that many processes;
#: returns the files it wrote, relative to the directory.
Precompute = Callable[[Path, int], list[str]]

TRAIN_OPTIONS = (
    "algorithm",
    "stream",
    "vector_size",
    "window",
    "min_count",
    "epochs",
    "seed",
    "workers",
)
ANNOY_OPTIONS = ("n_trees", "search_k")


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
    precompute: Precompute,
) -> None:
    """Add ``train`` to ``commands``; ``precompute`` finishes each model before it is published."""
    train = commands.add_parser(
        "train", help="train a model and publish it to a directory", parents=parents
    )
    train.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="20 Newsgroups tarball, directory of text files or text file (repeatable); "
        "default: English text shipped with gensim",
    )
    train.add_argument("--out", type=Path, help="model directory (default: the default model)")
    train.add_argument("--name", default="default", help="model name (default: default)")
    train.add_argument("--force", action="store_true", help="replace an existing model")
    # Unset options keep the defaults of TrainSettings and AnnoySettings (README: Models).
    train.add_argument(
        "--algorithm",
        choices=["word2vec-skipgram", "word2vec-cbow", "fasttext-skipgram", "fasttext-cbow"],
        help="of the main view",
    )
    train.add_argument(
        "--precompute-only",
        action="store_true",
        help="only (re)compute what the server looks up (hints and guess scores) for the model "
        "at --out",
    )
    train.add_argument(
        "--single-view",
        action="store_true",
        help="train only the main view, not the extra views the default strategy also uses",
    )
    train.add_argument("--stream", choices=["content", "all"], help="drop stop words or not")
    train.add_argument("--vector-size", type=arguments.positive_int)
    train.add_argument("--window", type=arguments.positive_int)
    train.add_argument("--min-count", type=arguments.positive_int)
    train.add_argument("--epochs", type=arguments.positive_int)
    train.add_argument("--seed", type=int)
    train.add_argument("--workers", type=arguments.positive_int, help="1 = reproducible")
    train.add_argument("--n-trees", type=arguments.positive_int, help="Annoy trees")
    train.add_argument("--search-k", type=arguments.positive_int, help="Annoy search_k")
    train.set_defaults(func=lambda args: _train(args, precompute))


def server_extra_missing(error: ImportError) -> int:
    """Say which extra to install when a server dependency is missing; the exit code."""
    print(
        f"hatbot: {error}; install the server parts: pip install 'hatbot[server]'", file=sys.stderr
    )
    return 2


def _train(args: argparse.Namespace, precompute: Precompute) -> int:
    try:
        from hatbot.models.store import AnnoySettings, default_model_dir
        from hatbot.models.train import DEFAULT_EXTRA_VIEWS, TrainSettings, train
    except ImportError as error:
        return server_extra_missing(error)
    given = {key: value for key, value in vars(args).items() if value is not None}
    settings = TrainSettings(**{f: given[f] for f in TRAIN_OPTIONS if f in given})
    annoy = AnnoySettings(**{f: given[f] for f in ANNOY_OPTIONS if f in given})
    out = args.out or default_model_dir()
    if args.precompute_only:
        return _precompute_only(args, out, settings.workers, precompute)
    try:
        manifest = train(
            args.corpus,
            out,
            name=args.name,
            settings=settings,
            extra_views={} if args.single_view else DEFAULT_EXTRA_VIEWS,
            annoy=annoy,
            replace=args.force,
            finish=lambda staged: precompute(staged, settings.workers),
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"hatbot train: {error}", file=sys.stderr)
        return 1
    print(f"{manifest.version}: {manifest.vocabulary_size} words -> {out}")
    return 0


def _precompute_only(
    args: argparse.Namespace, out: Path, workers: int, precompute: Precompute
) -> int:
    """``hatbot train --precompute-only``: recompute an existing model's lookup tables."""
    from hatbot.models import store

    if args.corpus or args.force:
        print("hatbot train: --precompute-only takes no --corpus or --force", file=sys.stderr)
        return 2
    if not (out / store.MANIFEST).is_file():
        print(f"hatbot train: not a model directory: {out}", file=sys.stderr)
        return 1
    try:
        written = precompute(out, workers)
    except (FileNotFoundError, ValueError) as error:
        print(f"hatbot train: {error}", file=sys.stderr)
        return 1
    store.refresh_file_digests(out, written)
    print(f"precomputed the lookup tables of {out}")
    return 0
