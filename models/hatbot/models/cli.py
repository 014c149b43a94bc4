"""``hatbot train``: train a model from a corpus and publish it to a directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hatbot import arguments
from hatbot.models import store
from hatbot.models.corpus import CorpusError
from hatbot.models.settings import ALGORITHMS, TrainSettings
from hatbot.models.store import AnnoySettings, default_model_dir

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
    main, annoy = TrainSettings(), AnnoySettings()
    train = commands.add_parser(
        "train",
        help="train a model and publish it to a directory",
        description="Train a model on a corpus and publish it to a directory. Without --out, "
        "the default model is trained: $HATBOT_MODEL_DIR, else "
        "$XDG_DATA_HOME/hatbot/models/default (XDG_DATA_HOME defaulting to ~/.local/share).",
        epilog=arguments.examples(
            "hatbot train --corpus 20news-bydate.tar.gz --out var/models/20news --name 20news"
        ),
        parents=parents,
    )
    train.add_argument(
        "--corpus",
        type=arguments.existing_path,
        action="append",
        metavar="PATH",
        help="a 20 Newsgroups tarball as distributed (20news-bydate.tar.gz), a directory of "
        "text files, a text file or a MediaWiki .xml*.bz2 dump; repeatable (default: English "
        "text shipped with gensim, some 200 Wikipedia articles and the Lee news corpus)",
    )
    train.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"the model directory to publish (default: the default model, {default_model_dir()})",
    )
    train.add_argument("--name", default="default", help="model name, part of its version")
    train.add_argument(
        "--force",
        action="store_true",
        help="replace the model at --out (only a directory with a manifest.json)",
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
    # The main view's settings; the extra views have their own (README: Strategy).
    train.add_argument(
        "--algorithm",
        choices=[a for a in ALGORITHMS if a != "ppmi-svd"],
        default=main.algorithm,
        help="of the main view",
    )
    train.add_argument(
        "--stream",
        choices=["content", "all"],
        default=main.stream,
        help="train on content words (stop words dropped) or on every token",
    )
    for option, help_text in (
        ("--vector-size", "dimensions of the main view"),
        ("--window", "context window of the main view"),
        ("--min-count", "fewer occurrences and a word is left out"),
        ("--epochs", "passes over the corpus"),
    ):
        field = option[2:].replace("-", "_")
        train.add_argument(
            option, type=arguments.positive_int, default=getattr(main, field), help=help_text
        )
    train.add_argument("--seed", type=int, default=main.seed, help="random seed of the main view")
    train.add_argument(
        "--workers",
        type=arguments.positive_int,
        default=main.workers,
        help="training threads and precompute processes; 1 makes a run reproducible",
    )
    train.add_argument(
        "--n-trees", type=arguments.positive_int, default=annoy.n_trees, help="Annoy trees"
    )
    train.add_argument(
        "--search-k", type=arguments.positive_int, default=annoy.search_k, help="Annoy search_k"
    )
    train.set_defaults(func=lambda args: _train(args, precompute))


def server_extra_missing(error: ImportError) -> int:
    """Say which extra to install when a server dependency is missing; the exit code."""
    print(
        f"hatbot: {error}; install the server parts: pip install 'hatbot[server]'", file=sys.stderr
    )
    return 2


def _train(args: argparse.Namespace, precompute: Precompute) -> int:
    # Refuse a wrong --out before the long work (and before the slow imports).
    out: Path = args.out or default_model_dir()
    if args.precompute_only:
        return _precompute_only(args, out, precompute)
    try:
        store.check_publishable(out, replace=args.force)
    except FileExistsError as error:
        print(f"hatbot train: --out {error}", file=sys.stderr)
        return 1
    try:
        from hatbot.models.train import DEFAULT_EXTRA_VIEWS, train
    except ImportError as error:
        return server_extra_missing(error)
    settings = TrainSettings(**{f: getattr(args, f) for f in TRAIN_OPTIONS})
    annoy = AnnoySettings(**{f: getattr(args, f) for f in ANNOY_OPTIONS})
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
    except CorpusError as error:
        print(f"hatbot train: --corpus {error}", file=sys.stderr)
        return 1
    except FileExistsError as error:  # something appeared at --out while training
        print(f"hatbot train: --out {error}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as error:
        print(f"hatbot train: {error}", file=sys.stderr)
        return 1
    print(f"{manifest.version}: {manifest.vocabulary_size} words -> {out}")
    return 0


def _precompute_only(args: argparse.Namespace, out: Path, precompute: Precompute) -> int:
    """``hatbot train --precompute-only``: recompute an existing model's lookup tables."""
    if args.corpus or args.force:
        print("hatbot train: --precompute-only takes no --corpus or --force", file=sys.stderr)
        return 2
    if not store.is_model_dir(out):
        print(
            f"hatbot train: --out {out}: not a model directory (no manifest.json)", file=sys.stderr
        )
        return 1
    try:
        store.read_manifest(out)
    except ValueError as error:  # names the manifest
        print(f"hatbot train: --out {error}", file=sys.stderr)
        return 1
    try:
        written = precompute(out, args.workers)
    except ImportError as error:
        return server_extra_missing(error)
    except (FileNotFoundError, ValueError) as error:
        print(f"hatbot train: {error}", file=sys.stderr)
        return 1
    store.refresh_file_digests(out, written)
    print(f"precomputed the lookup tables of {out}")
    return 0
