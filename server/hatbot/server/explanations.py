"""Every candidate word's hints, computed once per model so that Explain is a lookup.

The explainer is deterministic and picks hints one at a time, so ``explain(word, n)`` is the
first ``n`` of the full list. :func:`build` stores the full lists of all candidates in
``strategy/explanations.npz`` (``hatbot train`` does it before publishing a model);
:func:`load` returns them only if the model and the explainer (its parameters, the source of
the modules its answers depend on, numpy's version) are the ones they were computed with:
otherwise Explain is computed live, which costs time but serves no stale answer.
"""

from __future__ import annotations

import hashlib
import io
import logging
import multiprocessing
import signal
import sys
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from hatbot.models import neighbours, store
from hatbot.server import tables
from hatbot.server.explainer import Explainer, ExplainerParams
from hatbot.server.model import WordModel

log = logging.getLogger(__name__)

FILE = "explanations.npz"
MAX_HINTS = 100  # the contract's largest n_words
_SOURCES = (  # the modules the stored answers depend on (all imported by this one)
    "hatbot.server.explainer",
    "hatbot.server.tables",
    "hatbot.server.model",
    "hatbot.rules",
    "hatbot.models.neighbours",
    __name__,
)
_CHUNK = 200


def fingerprint(params: ExplainerParams) -> str:
    """What the answers depend on besides the model: the parameters, the code that computes
    and stores them, and numpy's version."""
    digest = hashlib.sha256(f"{params!r} numpy {np.__version__}".encode())
    for module in _SOURCES:
        digest.update(Path(str(sys.modules[module].__file__)).read_bytes())
    return digest.hexdigest()


class Explanations:
    """Precomputed hint lists, row ``i`` for candidate word ``i`` (-1 pads shorter lists)."""

    def __init__(self, words: Sequence[str], hints: npt.NDArray[np.int32]) -> None:
        self.words = words
        self.hints = hints

    def explain(self, row: int, n_words: int) -> list[str]:
        """The first ``n_words`` hints of candidate ``row``."""
        return [self.words[r] for r in self.hints[row, :n_words] if r >= 0]


def load(model: WordModel, words: Sequence[str], params: ExplainerParams) -> Explanations | None:
    """The model's explanations, or None (logged) when missing, unreadable or computed for
    another model or explainer: they are only a cache, so Explain is then computed live."""
    path = model.directory / neighbours.DIRECTORY / FILE
    if not path.is_file():
        log.info("no precomputed explanations: every Explain is computed live")
        return None
    problem = None
    try:
        with np.load(path, allow_pickle=False) as stored:
            hints = np.asarray(stored["hints"])
            made_for = (str(stored["model_version"]), str(stored["fingerprint"]))
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as error:
        problem = f"is unreadable ({error})"
    else:
        if made_for != (model.version, fingerprint(params)):
            problem = "was computed for another model or explainer"
        elif not (
            hints.ndim == 2
            and len(hints) == len(words)
            and np.issubdtype(hints.dtype, np.integer)
            and (hints.size == 0 or (hints.min() >= -1 and hints.max() < len(words)))
        ):
            problem = "does not fit the candidate words"
    if problem is not None:
        log.warning(
            "%s %s: ignoring it and computing every Explain live; rebuild it with "
            "`hatbot train --explanations-only --out %s`",
            path,
            problem,
            model.directory,
        )
        return None
    log.info("precomputed explanations of %d words", len(hints))
    return Explanations(words, hints)


_worker: Explainer | None = None


def _start_worker(model_dir: Path, params: ExplainerParams) -> None:
    global _worker
    # A terminal's Ctrl-C reaches the whole process group; the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(limits=1, user_api="blas")  # one core per worker process
    _worker = Explainer(tables.load_tables(WordModel(model_dir)), params)


def _explain_rows(rows: range) -> list[list[int]]:
    assert _worker is not None
    words, row = _worker.tables.words, _worker.tables.row
    return [[row[hint] for hint in _worker.explain(words[r], MAX_HINTS)] for r in rows]


def build(model_dir: Path, params: ExplainerParams | None = None, workers: int = 2) -> int:
    """Compute and save the explanations of every candidate of ``model_dir``; their number.

    Runs ``workers`` processes, spawned (so safe beside a running gRPC server); a worker that
    dies fails the build with ``BrokenProcessPool`` rather than leaving it waiting.
    """
    params = params or ExplainerParams()
    version = store.read_manifest(model_dir).version
    words = neighbours.read_words(model_dir / neighbours.DIRECTORY)
    chunks = [range(i, min(i + _CHUNK, len(words))) for i in range(0, len(words), _CHUNK)]
    lists: list[list[int]] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _start_worker, (model_dir, params)) as pool:
        for done in pool.map(_explain_rows, chunks):
            lists.extend(done)
            log.info("explained %d/%d words", len(lists), len(words))
    width = max((len(hints) for hints in lists), default=0)
    hints = np.full((len(lists), width), -1, np.int32)
    for row, found in enumerate(lists):
        hints[row, : len(found)] = found
    buffer = io.BytesIO()
    np.savez(
        buffer,
        hints=hints,
        model_version=np.str_(version),
        fingerprint=np.str_(fingerprint(params)),
    )
    store.write_bytes_atomic(model_dir / neighbours.DIRECTORY / FILE, buffer.getvalue())
    return len(lists)
