"""Shared fixtures: a tiny word model trained in the session and real servers serving it.

Fixtures for everyone:

* ``tiny_corpus`` / ``tiny_model`` / ``tiny_manifest``: a synthetic English corpus over a few
  topic vocabularies (see :data:`TOPICS`), a model trained on it in a few seconds (16-dim
  vectors, 5 Annoy trees, lookup tables) and that model's parsed ``manifest.json``.
* ``hat_server`` / ``baseline_server``: ``"127.0.0.1:PORT"`` of a real ``hatbot serve``
  subprocess on the tiny model with the default / baseline strategy, SERVING for the whole
  session; stopped with SIGTERM at the end, which must exit 0.
* ``server_factory``: starts more ``hatbot serve`` subprocesses (see :class:`ServerProcess`)
  and kills whatever is still running at teardown.
* ``certificates``: PEM files for TLS and mutual TLS made in the session (see ``certs.py``).
* ``tiny_settings``, ``topics``: the settings and topic words behind ``tiny_model``;
  ``cli``: runs ``python -m hatbot.cli ARGS`` with a timeout.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from certs import Certificates, make_certificates

from hatbot.models.store import AnnoySettings
from hatbot.models.train import TrainSettings, train
from hatbot.server import lookup
from hatbot.server.explainer import ExplainerParams
from hatbot.server.process import WAIT_SECONDS, ServerProcess
from hatbot.tls import TlsConfig


def _words(text: str) -> list[str]:
    return text.split()


#: Topic vocabularies of the synthetic corpus. Words of a topic co-occur, so a word's nearest
#: neighbours are mostly from its topic; inflected forms (river/rivers, cook/cooking) make the
#: raw neighbours share stems, which the default strategy has to filter out.
TOPICS: dict[str, list[str]] = {
    "water": _words(
        "river rivers water waters stream streams lake lakes flow flowing flows bank banks "
        "fish fishing boat boats bridge rain ocean wave waves shore"
    ),
    "computer": _words(
        "computer computers software program programs programming code keyboard screen "
        "screens memory disk network networks server servers data processor chip"
    ),
    "music": _words(
        "music musical song songs singer singing guitar guitars piano drum drums melody "
        "concert concerts band bands rhythm orchestra violin"
    ),
    "kitchen": _words(
        "kitchen cook cooking cooked bread oven ovens recipe recipes soup butter flour sugar "
        "salt pepper knife dinner breakfast baking"
    ),
}
FILLER = _words("the a of and in on with very about this that is was")

TINY_SETTINGS = TrainSettings(
    stream="all", vector_size=16, window=5, min_count=2, sample=0.0, epochs=5, seed=1, workers=1
)
TINY_ANNOY = AnnoySettings(n_trees=5, search_k=500)
# The explainer's defaults are sized for a vocabulary of thousands; the tiny model has 80
# candidates.
TINY_EXPLAINER = ExplainerParams(pool_neighbours=10, competitor_neighbours=20, reverse_max_rank=5)


def write_corpus(path: Path, n_sentences: int = 1200, seed: int = 7) -> Path:
    """Write ``n_sentences`` lines, each 12 words of one topic mixed with filler words."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        topic = TOPICS[rng.choice(sorted(TOPICS))]
        words = [rng.choice(topic) if rng.random() < 0.7 else rng.choice(FILLER) for _ in range(12)]
        lines.append(" ".join(words).capitalize() + ".")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


StartServer = Callable[..., ServerProcess]
ROOT = Path(__file__).resolve().parent.parent


def load_script(relative: str, name: str) -> ModuleType:
    """Import the repository's script ``relative`` (``tools/x.py``) as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fifo_model(model_dir: Path, copy: Path) -> bytes:
    """Copy ``model_dir`` to ``copy`` with ``vectors.kv`` a named pipe; the file's bytes.

    A server loading the copy blocks (NOT_SERVING) until :func:`feed_fifo` writes them. (A fifo
    in place of manifest.json does not work: ``hatbot serve`` requires a regular file there.)
    """
    shutil.copytree(model_dir, copy)
    vectors = (copy / "vectors.kv").read_bytes()
    (copy / "vectors.kv").unlink()
    os.mkfifo(copy / "vectors.kv", 0o644)
    return vectors


def feed_fifo(fifo: Path, data: bytes, alive: Callable[[], bool], log: Callable[[], str]) -> None:
    """Write ``data`` into ``fifo`` once a server opens it for reading (bounded wait).

    ``alive()`` tells whether the server still runs, ``log()`` what it said (for the failure).
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        if not alive() or time.monotonic() > deadline:
            raise AssertionError(f"server never opened {fifo.name}; its log:\n{log()}")
        time.sleep(0.05)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@pytest.fixture(scope="session")
def topics() -> dict[str, list[str]]:
    """The topic vocabularies of the tiny corpus (every word is in the tiny model)."""
    return TOPICS


@pytest.fixture(scope="session")
def tiny_settings() -> tuple[TrainSettings, AnnoySettings]:
    """The training and Annoy settings ``tiny_model`` is built with."""
    return TINY_SETTINGS, TINY_ANNOY


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic English corpus: one text file of 1200 topical sentences."""
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


def train_tiny(corpus: Path, out: Path, seed: int = TINY_SETTINGS.seed) -> Path:
    """Train a tiny model on ``corpus`` into ``out`` with its lookup tables (for the default
    parameters, as ``hatbot train`` makes them); another ``seed``, another version."""
    train(
        [corpus],
        out,
        name="tiny",
        settings=dataclasses.replace(TINY_SETTINGS, seed=seed),
        annoy=TINY_ANNOY,
        finish=lambda staged: lookup.build(staged, workers=1),
    )
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path) -> Path:
    """A model directory trained on ``tiny_corpus`` in a few seconds (see :func:`train_tiny`).
    Do not modify it."""
    return train_tiny(tiny_corpus, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_manifest(tiny_model: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of ``tiny_model``."""
    data: dict[str, Any] = json.loads((tiny_model / "manifest.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and client certificates (see ``certs.py``)."""
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@contextmanager
def running_server(
    model_dir: Path, *extra: str, tls: TlsConfig | None = None
) -> Iterator[ServerProcess]:
    """A SERVING ``hatbot serve`` for the block, which must exit 0 on SIGTERM after it
    (``tls``: how to reach a server started with ``--tls-cert``)."""
    server = ServerProcess(model_dir, *extra, tls=tls)
    try:
        server.wait_serving()
        yield server
        code = server.terminate()
    finally:
        server.kill()
    assert code == 0, f"server exited {code} on SIGTERM; stderr:\n{server.log}"


def _session_server(model_dir: Path, *extra: str) -> Iterator[str]:
    with running_server(model_dir, *extra) as server:
        yield server.wait_listening()


@pytest.fixture(scope="session")
def hat_server(tiny_model: Path) -> Iterator[str]:
    """Address of a SERVING ``hatbot serve`` on ``tiny_model`` with the default strategy."""
    yield from _session_server(tiny_model, "--grace", "1")


@pytest.fixture(scope="session")
def baseline_server(tiny_model: Path) -> Iterator[str]:
    """Address of a SERVING ``hatbot serve --strategy baseline`` on ``tiny_model``."""
    yield from _session_server(tiny_model, "--strategy", "baseline", "--grace", "1")


@pytest.fixture
def server_factory() -> Iterator[StartServer]:
    """Start ``hatbot serve`` subprocesses: ``server_factory(model_dir, *extra_args,
    tls=None)``.

    Returns a :class:`ServerProcess` that is not waited for; every process still running at
    teardown is killed.
    """
    started: list[ServerProcess] = []

    def start(model_dir: Path | None, *extra: str, tls: TlsConfig | None = None) -> ServerProcess:
        server = ServerProcess(model_dir, *extra, tls=tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def run_cli(*args: str, timeout: float = WAIT_SECONDS) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hatbot.cli ARGS`` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "hatbot.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args)`` runs ``python -m hatbot.cli ARGS`` with a timeout; the completed process."""
    return run_cli
