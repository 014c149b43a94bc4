"""Answers computed once per model, so that serving Explain and Guess is a lookup.

For every word some view knows (the *vocabulary*: the candidate words first, in row order,
then the others by frequency), training stores in ``strategy/lookup/``:

* ``explanations.npy``: the word's full hint list as candidate rows (-1 pads). The explainer
  is deterministic and picks hints one at a time, so ``explain(word, n)`` is its first n.
* ``hint_scores.npy``: the guesser's score of every candidate with the word as a hint, one
  int16 row per word (score = offset + step * q, a 65,535th of the row's range) and
  ``hint_scales.npy`` (offset, step). A guess adds a few such rows: no product over the
  views at request time.
* ``candidates.npz``: what ranking guesses needs of the candidates (see
  :class:`~hatbot.server.tables.Candidates`).
* ``vocabulary.txt`` and ``meta.json``: the model version and a fingerprint of the code and
  parameters the answers depend on.

:func:`load` returns them only when model version and fingerprint match; otherwise the server
computes answers live, which costs time but serves nothing stale. Every array is
memory-mapped, so worker processes serving one model share a single copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import signal
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from hatbot.models import neighbours, store
from hatbot.progress import Progress
from hatbot.server import tables
from hatbot.server.explainer import Explainer, ExplainerParams
from hatbot.server.model import WordModel
from hatbot.server.scores import LiveHintScores, ScaledRow, ScoreParams
from hatbot.server.tables import Candidates

log = logging.getLogger(__name__)

DIRECTORY = f"{neighbours.DIRECTORY}/lookup"
VOCABULARY = "vocabulary.txt"
EXPLANATIONS = "explanations.npy"
HINT_SCORES = "hint_scores.npy"
HINT_SCALES = "hint_scales.npy"
CANDIDATES = "candidates.npz"
META = "meta.json"
FILES = (VOCABULARY, EXPLANATIONS, HINT_SCORES, HINT_SCALES, CANDIDATES, META)
#: Hint score rows beyond this size are not stored; the rarest words are then computed live.
MAX_HINT_SCORE_BYTES = 4 << 30
MAX_HINTS = 100  # the contract's largest n_words
_SOURCES = (  # the modules that compute the stored answers (all imported by this one)
    "hatbot.server.explainer",
    "hatbot.server.scores",
    "hatbot.server.tables",
    "hatbot.server.model",
    "hatbot.rules",
    "hatbot.models.neighbours",
)
#: The layout of the stored files; raise it whenever this module stores them differently.
FORMAT = 1
_CHUNK = 200
_BLOCK = 256
_QUANTA = 65535


def fingerprint(explainer: ExplainerParams, scores: ScoreParams) -> str:
    """What the answers depend on besides the model: the parameters, the code that computes
    them, the layout they are stored in and numpy's version."""
    made_by = f"{explainer!r} {scores!r} format {FORMAT} numpy {np.__version__}"
    digest = hashlib.sha256(made_by.encode())
    for module in _SOURCES:
        digest.update(Path(str(sys.modules[module].__file__)).read_bytes())
    return digest.hexdigest()


class Lookup:
    """The stored answers of one model: see the module's documentation.

    ``complete`` is True when the vocabulary holds every word some view knows, so that a word
    outside it is unknown to the model.
    """

    def __init__(
        self,
        vocabulary: list[str],
        explanations: npt.NDArray[np.int32],
        hint_scores: npt.NDArray[np.int16],
        hint_scales: npt.NDArray[np.float32],
        candidates: Candidates,
        complete: bool,
    ) -> None:
        self.vocabulary = vocabulary
        self.index = {word: i for i, word in enumerate(vocabulary)}
        self.explanations = explanations
        self.hint_scores = hint_scores
        self.steps = [float(step) for step in hint_scales[:, 1]]
        self.hint_scales = hint_scales
        self.candidates = candidates
        self.complete = complete

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def explain(self, word: str, n_words: int) -> list[str]:
        """The first ``n_words`` hints of ``word``, a vocabulary word."""
        words = self.candidates.words
        return [words[r] for r in self.explanations[self.index[word], :n_words] if r >= 0]

    def scores(self, hint: str) -> ScaledRow | None:
        """The stored scores of every candidate for ``hint``; None outside the vocabulary."""
        i = self.index.get(hint)
        return None if i is None else (self.hint_scores[i], self.steps[i])

    def warm_up(self) -> None:
        """Read every page of the memory-mapped arrays once."""
        for array in (self.explanations, self.hint_scores):
            for start in range(0, len(array), 4096):
                float(np.sum(array[start : start + 4096], dtype=np.float64))


def load(
    model_dir: Path,
    version: str,
    explainer: ExplainerParams | None = None,
    scores: ScoreParams | None = None,
) -> Lookup | None:
    """The stored answers of the model, or None (logged) when missing, unreadable or made for
    another model version or code: they are only a cache, so answers are then computed live."""
    directory = model_dir / DIRECTORY
    if not (directory / META).is_file():
        log.info("no precomputed answers in %s: every answer is computed live", directory)
        return None
    made_for = fingerprint(explainer or ExplainerParams(), scores or ScoreParams())
    try:
        lookup, problem = _read(directory, version, made_for)
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        lookup, problem = None, f"is unreadable ({error})"
    if lookup is None:
        log.warning(
            "%s %s: ignoring it and computing answers live; rebuild it with "
            "`hatbot train --precompute-only --out %s`",
            directory,
            problem,
            model_dir,
        )
        return None
    log.info("precomputed answers for %d words", len(lookup.vocabulary))
    return lookup


def _read(directory: Path, version: str, made_for: str) -> tuple[Lookup | None, str]:
    meta = json.loads((directory / META).read_text(encoding="utf-8"))
    if (meta["model_version"], meta["fingerprint"]) != (version, made_for):
        return None, "was computed for another model version or code"
    vocabulary = (directory / VOCABULARY).read_text(encoding="utf-8").split()

    def mapped(name: str) -> Any:
        # A plain ndarray over the mapping: np.memmap's subclass hooks cost time on every op.
        return np.asarray(np.load(directory / name, mmap_mode="r"))

    explanations, hint_scores, hint_scales = map(mapped, (EXPLANATIONS, HINT_SCORES, HINT_SCALES))
    with np.load(directory / CANDIDATES, allow_pickle=False) as stored:
        arrays = {name: np.asarray(stored[name]) for name in stored.files}
    size = len(arrays["group"])
    candidates = Candidates(
        vocabulary[:size],
        arrays["log_counts"],
        arrays["group"],
        arrays["representative"],
        arrays["soft_representative"],
    )
    shapes_fit = (
        size <= len(vocabulary)
        and explanations.shape[0] == len(vocabulary) == len(hint_scores) == len(hint_scales)
        and hint_scores.shape[1:] == (size,)
        and hint_scales.shape[1:] == (2,)
        and explanations.dtype == np.int32
        and hint_scores.dtype == np.int16
        and (explanations.size == 0 or -1 <= explanations.min() <= explanations.max() < size)
        and all(len(arrays[name]) == size for name in ("log_counts", "group"))
        and (size == 0 or 0 <= candidates.group.min() <= candidates.group.max() < size)
        and len(candidates.representative) == len(candidates.soft_representative)
    )
    if not shapes_fit:
        return None, "does not fit its vocabulary"
    complete = bool(meta["complete"])
    return Lookup(vocabulary, explanations, hint_scores, hint_scales, candidates, complete), ""


def vocabulary(strategy_tables: tables.StrategyTables) -> list[str]:
    """Every word some view knows: the candidates in row order, then the other words of the
    main view, then those of the other views, each in the view's (frequency) order."""
    words = list(strategy_tables.words)
    seen = set(words)
    for model in strategy_tables.views.values():
        for word in model.words:
            if word not in seen:
                seen.add(word)
                words.append(word)
    return words


_worker: Explainer | None = None


def _start_worker(model_dir: Path, params: ExplainerParams) -> None:
    global _worker
    # A terminal's Ctrl-C reaches the whole process group; the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(limits=1, user_api="blas")  # one core per worker process
    _worker = Explainer(tables.load_tables(WordModel(model_dir)), params)


def _explain_words(words: list[str]) -> list[list[int]]:
    assert _worker is not None
    row = _worker.tables.row
    return [[row[hint] for hint in _worker.explain(word, MAX_HINTS)] for word in words]


def _explanations(
    model_dir: Path, words: list[str], params: ExplainerParams, workers: int
) -> npt.NDArray[np.int32]:
    """The full hint lists of ``words``, computed by ``workers`` spawned processes (safe
    beside a running gRPC server); a worker that dies fails the build (BrokenProcessPool)."""
    chunks = [words[i : i + _CHUNK] for i in range(0, len(words), _CHUNK)]
    lists: list[list[int]] = []
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(workers, context, _start_worker, (model_dir, params)) as pool,
        Progress(len(words), "explain every word", unit="word") as progress,
    ):
        for done in pool.map(_explain_words, chunks):
            lists.extend(done)
            progress.update(len(done))
    width = max((len(hints) for hints in lists), default=0)
    hints = np.full((len(lists), width), -1, np.int32)
    for row, found in enumerate(lists):
        hints[row, : len(found)] = found
    return hints


def _quantised_rows(
    scorer: LiveHintScores, words: list[str]
) -> Iterator[tuple[npt.NDArray[np.int16], npt.NDArray[np.float32]]]:
    """Blocks of the hint score rows of ``words``, int16, with their (offset, step)."""
    for start in range(0, len(words), _BLOCK):
        rows, _ = scorer.rows(words[start : start + _BLOCK])
        if rows.shape[1] == 0:  # no candidates
            yield rows.astype(np.int16), np.zeros((len(rows), 2), np.float32)
            continue
        low = rows.min(axis=1, keepdims=True)
        step = np.maximum(rows.max(axis=1, keepdims=True) - low, 1e-30) / _QUANTA
        quantised = np.rint((rows - low) / step) - 32768
        offset = low + 32768 * step
        yield quantised.astype(np.int16), np.hstack([offset, step]).astype(np.float32)


def build(
    model_dir: Path,
    explainer: ExplainerParams | None = None,
    scores: ScoreParams | None = None,
    workers: int = 2,
) -> list[str]:
    """Compute and store the answers of ``model_dir``; the files written, relative to it."""
    explainer = explainer or ExplainerParams()
    scores = scores or ScoreParams()
    made_with = fingerprint(explainer, scores)  # of the code that runs now
    version = store.read_manifest(model_dir).version
    strategy_tables = tables.load_tables(WordModel(model_dir))
    known = vocabulary(strategy_tables)
    size = len(strategy_tables.words)
    words = known[: MAX_HINT_SCORE_BYTES // max(1, 2 * size)]
    if len(words) < len(known):
        log.warning(
            "storing the answers of %d of %d words; the rest are computed live",
            len(words),
            len(known),
        )
    directory = model_dir / DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)

    explanations = _explanations(model_dir, words, explainer, workers)
    with store.atomic_path(directory / EXPLANATIONS) as tmp, tmp.open("wb") as handle:
        np.save(handle, explanations)
    scorer = LiveHintScores(strategy_tables, scores)
    scales = np.zeros((len(words), 2), np.float32)
    with store.atomic_path(directory / HINT_SCORES) as tmp:
        rows = np.lib.format.open_memmap(tmp, "w+", np.int16, (len(words), size))
        done = 0
        with Progress(len(words), "score every word as a hint", unit="word") as progress:
            for quantised, scale in _quantised_rows(scorer, words):
                rows[done : done + len(quantised)] = quantised
                scales[done : done + len(quantised)] = scale
                done += len(quantised)
                progress.update(len(quantised))
        rows.flush()
        del rows
    with store.atomic_path(directory / HINT_SCALES) as tmp, tmp.open("wb") as handle:
        np.save(handle, scales)
    candidates = strategy_tables.candidates
    with store.atomic_path(directory / CANDIDATES) as tmp, tmp.open("wb") as handle:
        np.savez(
            handle,
            log_counts=candidates.log_counts,
            group=candidates.group,
            representative=candidates.representative,
            soft_representative=candidates.soft_representative,
        )
    store.write_text_atomic(directory / VOCABULARY, "\n".join(words) + "\n")
    meta = {
        "model_version": version,
        "fingerprint": made_with,
        "complete": len(words) == len(known),
        "words": len(words),
    }
    store.write_text_atomic(directory / META, json.dumps(meta, indent=2) + "\n")  # last: the mark
    return [f"{DIRECTORY}/{name}" for name in FILES]
