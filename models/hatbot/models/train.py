"""Train word vectors on a corpus, build the Annoy index and publish a model directory."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hatbot.models import corpus, neighbours, store
from hatbot.models.ppmi import ppmi_vectors
from hatbot.models.settings import ALGORITHMS, STREAMS
from hatbot.models.settings import TrainSettings as TrainSettings  # re-exported
from hatbot.models.store import AnnoySettings, Manifest
from hatbot.models.tokenize import sentences
from hatbot.models.vocabulary import content_words
from hatbot.progress import Progress, Stages, track

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)


# Shared by the two FastText views.
_FASTTEXT = TrainSettings(
    algorithm="fasttext-skipgram", stream="all", vector_size=120, window=4, negative=5
)

#: Views trained beside the main one by default, so answers do not rest on one model's quirks:
#: skip-grams over every token (narrow and wide windows: neighbours of the same kind, like a
#: CBOW model's), count-based PPMI-SVD models with and without stop words, and two FastText
#: skip-grams, whose sub-word neighbours are what FastText opponents' guessers see: a short,
#: heavily subsampled run and a longer one with gensim's default subsampling (sample 1e-3).
DEFAULT_EXTRA_VIEWS: dict[str, TrainSettings] = {
    "ppmi": TrainSettings(algorithm="ppmi-svd", vector_size=300, window=5, min_count=8),
    "sg2": TrainSettings(stream="all", vector_size=150, window=3, negative=5, epochs=8, seed=7),
    "ppmi2": TrainSettings(
        algorithm="ppmi-svd", stream="all", vector_size=200, window=2, min_count=8
    ),
    "sg3": TrainSettings(
        stream="all", vector_size=120, window=6, min_count=8, negative=8, epochs=6, seed=3
    ),
    "ft": dataclasses.replace(_FASTTEXT, epochs=6, seed=5),
    "ft2": dataclasses.replace(_FASTTEXT, sample=1e-3, epochs=10, seed=17),
}


def _library_versions() -> dict[str, str]:
    from importlib.metadata import version

    import annoy  # noqa: F401  (annoy has no __version__; the distribution metadata does)
    import gensim
    import numpy

    return {
        "python": platform.python_version(),
        "gensim": gensim.__version__,
        "numpy": numpy.__version__,
        "annoy": version("annoy"),
    }


def _epoch_progress(epochs: int, desc: str) -> object:
    """A gensim callback that counts finished epochs in a :class:`Progress`."""
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochProgress(CallbackAny2Vec):  # type: ignore[misc]
        def __init__(self) -> None:
            self.progress: Progress | None = None

        def on_train_begin(self, model: object) -> None:
            self.progress = Progress(epochs, desc, unit="epoch")

        def on_epoch_end(self, model: object) -> None:
            if self.progress is not None:
                self.progress.advance()

        def on_train_end(self, model: object) -> None:
            if self.progress is not None:
                self.progress.close()

    return EpochProgress()


def _keyed_vectors(
    words: list[str], counts: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
) -> KeyedVectors:
    """Unit-normalised KeyedVectors with a ``count`` attribute per word."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
    kv.expandos["count"][:] = counts
    kv.unit_normalize_all()
    return kv


def train_vectors(
    text: list[list[str]], settings: TrainSettings, view: str = neighbours.MAIN_VIEW
) -> KeyedVectors:
    """Unit-normalised word vectors with a ``count`` attribute, by ``settings.algorithm``;
    ``view`` names them in progress reports."""
    from gensim.models import FastText, Word2Vec

    if settings.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {settings.algorithm!r}; choose from {ALGORITHMS}")
    if settings.stream not in STREAMS:
        raise ValueError(f"unknown stream {settings.stream!r}; choose from {STREAMS}")
    if settings.stream == "content":
        text = [content_words(sentence) for sentence in text]
    if settings.algorithm == "ppmi-svd":
        words, counts, vectors = ppmi_vectors(
            text,
            min_count=settings.min_count,
            window=settings.window,
            dimensions=settings.vector_size,
            seed=settings.seed,
            desc=f"view {view} co-occurrences",
        )
        return _keyed_vectors(words, counts, vectors)
    family, architecture = settings.algorithm.split("-")
    trainer = FastText if family == "fasttext" else Word2Vec
    model = trainer(
        vector_size=settings.vector_size,
        window=settings.window,
        min_count=settings.min_count,
        sg=int(architecture == "skipgram"),
        hs=0,
        negative=settings.negative,
        sample=settings.sample,
        seed=settings.seed,
        workers=settings.workers,
    )
    model.build_vocab(text)
    if len(model.wv) == 0:
        raise ValueError(f"no word occurs {settings.min_count} times in the corpus")
    model.train(
        text,
        total_examples=model.corpus_count,
        epochs=settings.epochs,
        callbacks=[_epoch_progress(settings.epochs, f"view {view} epochs")],
    )
    # Only whole-word vectors are served: copy them out of FastText's n-gram model.
    return _keyed_vectors(list(model.wv.index_to_key), model.wv.expandos["count"], model.wv.vectors)


def build_tables(
    views: Mapping[str, KeyedVectors], directory: Path, annoy: AnnoySettings, seed: int
) -> int:
    """Write the strategy's neighbour tables for ``views`` (main view first); their size."""
    main = views[neighbours.MAIN_VIEW]
    words = neighbours.candidate_vocabulary(
        list(main.index_to_key),
        main.expandos["count"],
        {view: kv.key_to_index for view, kv in views.items()},
    )
    counts = np.array([main.get_vecattr(word, "count") for word in words], np.int64)
    tables = {
        view: neighbours.view_tables(
            np.ascontiguousarray(kv.vectors[[kv.key_to_index[w] for w in words]], np.float32),
            annoy,
            seed,
            desc=f"tables {view}",
        )
        for view, kv in views.items()
    }
    neighbours.save(directory, words, counts, tables)
    return len(words)


def _save_view(
    kv: KeyedVectors, annoy: AnnoySettings, seed: int, vectors: Path, index: Path
) -> None:
    vectors.parent.mkdir(parents=True, exist_ok=True)
    kv.save(str(vectors), separately=["vectors"])
    neighbours.annoy_index(kv.vectors, annoy, seed).save(str(index))


READ_STAGE, TABLES_STAGE, FINISH_STAGE = "read the corpus", "neighbour tables", "precompute"


def _stages(views: Mapping[str, TrainSettings], finish: bool) -> list[tuple[str, float]]:
    """The stages of :func:`train` with a rough guess of their relative work, for the ETA: a
    view weighs its epochs (a PPMI view two), the tables and the finish one unit per view."""
    stages = [(READ_STAGE, 1.0)]
    stages += [
        (f"view {view}", 2.0 if s.algorithm == "ppmi-svd" else float(s.epochs))
        for view, s in views.items()
    ]
    stages.append((TABLES_STAGE, float(len(views))))
    if finish:
        stages.append((FINISH_STAGE, float(len(views))))
    return stages


def train(
    corpus_paths: list[Path] | None,
    out: Path,
    *,
    name: str = "default",
    settings: TrainSettings | None = None,
    extra_views: Mapping[str, TrainSettings] | None = None,
    annoy: AnnoySettings | None = None,
    replace: bool = False,
    finish: Callable[[Path], object] | None = None,
) -> Manifest:
    """Train on ``corpus_paths`` (gensim's bundled texts when None) and publish to ``out``.

    ``settings`` make the main view (``vectors.kv``, ``index.ann``); each of ``extra_views``
    is trained the same way into ``views/NAME.kv`` and ``views/NAME.ann``. ``finish`` is
    called with the complete staged model directory before it is published, to add files
    derived from it (``hatbot train`` precomputes what the default strategy looks up).
    Progress is shown stage by stage (:class:`hatbot.progress.Stages`).

    Raises FileExistsError before any work when ``out`` may not be published to (see
    :func:`store.check_publishable`), :class:`corpus.CorpusError` for an unreadable corpus.
    """
    settings = settings or TrainSettings()
    extra_views = extra_views or {}
    annoy = annoy or AnnoySettings()
    store.check_publishable(out, replace)  # before the long work, again before publishing
    paths = corpus_paths or corpus.default_corpus_paths()
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"corpus path does not exist: {', '.join(missing)}")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    stages = Stages(_stages({neighbours.MAIN_VIEW: settings, **extra_views}, bool(finish)), "train")

    with stages:
        stages.start(READ_STAGE)
        log.info("reading corpus: %s", ", ".join(map(str, paths)))
        corpus_info: dict[str, object] = {
            "paths": [str(p) for p in paths]
            if corpus_paths
            else [f"gensim:{p.name}" for p in paths],
            "sha256": corpus.corpus_sha256(paths),
        }
        documents = track(corpus.iter_documents(paths), "reading", unit="documents")
        text = list(sentences(documents))
        corpus_info["sentences"] = len(text)
        corpus_info["tokens"] = sum(map(len, text))
        timings["read"] = time.perf_counter() - started
        log.info("read %d tokens in %.1fs", corpus_info["tokens"], timings["read"])

        staged = store.staging_dir(out)
        try:
            stages.start(f"view {neighbours.MAIN_VIEW}")
            mark = time.perf_counter()
            kv = train_vectors(text, settings)
            timings["train"] = time.perf_counter() - mark
            log.info("trained %d word vectors in %.1fs", len(kv), timings["train"])
            mark = time.perf_counter()
            _save_view(kv, annoy, settings.seed, staged / store.VECTORS, staged / store.INDEX)
            timings["index"] = time.perf_counter() - mark
            log.info("built Annoy index (%d trees) in %.1fs", annoy.n_trees, timings["index"])

            views: dict[str, dict[str, object]] = {}
            trained = {neighbours.MAIN_VIEW: kv}
            for view, view_settings in extra_views.items():
                stages.start(f"view {view}")
                mark = time.perf_counter()
                view_kv = trained[view] = train_vectors(text, view_settings, view)
                vectors, index = store.view_files(view)
                _save_view(view_kv, annoy, view_settings.seed, staged / vectors, staged / index)
                timings[f"view {view}"] = time.perf_counter() - mark
                log.info("view %s: %d words in %.1fs", view, len(view_kv), timings[f"view {view}"])
                views[view] = {
                    "training": asdict(view_settings),
                    "vocabulary_size": len(view_kv),
                    "vector_size": view_kv.vector_size,
                }

            stages.start(TABLES_STAGE, parts=len(trained) + 1)  # each view's, and the n-grams'
            mark = time.perf_counter()
            candidates = build_tables(trained, staged / neighbours.DIRECTORY, annoy, settings.seed)
            timings["tables"] = time.perf_counter() - mark
            log.info(
                "neighbour tables of %d candidate words in %.1fs", candidates, timings["tables"]
            )

            files = store.file_digests(staged)
            built_at = datetime.now(UTC).replace(microsecond=0)
            digest = hashlib.sha256("".join(files.values()).encode()).hexdigest()[:12]

            def write_manifest() -> Manifest:
                timings["total"] = time.perf_counter() - started
                manifest = Manifest(
                    name=name,
                    version=f"{name}-{built_at:%Y%m%dT%H%M%SZ}-{digest}",
                    built_at=built_at.isoformat().replace("+00:00", "Z"),
                    algorithm=settings.algorithm,
                    corpus=corpus_info,
                    training=asdict(settings),
                    annoy=annoy,
                    vocabulary_size=len(kv),
                    vector_size=kv.vector_size,
                    timings_seconds={k: round(v, 3) for k, v in timings.items()},
                    libraries=_library_versions(),
                    files=store.file_digests(staged, files),
                    views=views,
                )
                store.write_text_atomic(staged / store.MANIFEST, manifest.to_json())
                return manifest

            manifest = write_manifest()
            if finish is not None:  # on the complete model; what it adds joins the manifest
                stages.start(FINISH_STAGE)
                mark = time.perf_counter()
                finish(staged)
                timings["finish"] = time.perf_counter() - mark
                log.info("finished the model in %.1fs", timings["finish"])
                manifest = write_manifest()
        except BaseException:
            import shutil

            shutil.rmtree(staged, ignore_errors=True)
            raise
    store.publish(staged, out, replace)
    log.info("published model %s to %s", manifest.version, out)
    return manifest
