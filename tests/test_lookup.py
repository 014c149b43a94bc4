"""Precomputed explanations: the same answers as the live explainer, and never stale ones."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_EXPLAINER, running_server

from hatbot.client import HatClient
from hatbot.models import neighbours, store
from hatbot.server import explanations
from hatbot.server.explainer import Explainer, ExplainerParams
from hatbot.server.model import WordModel
from hatbot.server.strategy import GameStrategy

Cli = Callable[..., subprocess.CompletedProcess[str]]
WAIT = 60.0


@pytest.fixture(scope="module")
def explained_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model with explanations for :data:`TINY_EXPLAINER`."""
    model = tmp_path_factory.mktemp("explained") / "tiny"
    shutil.copytree(tiny_model, model)
    count = explanations.build(model, TINY_EXPLAINER, workers=2)
    assert count == len(neighbours.read_words(model / neighbours.DIRECTORY))
    return model


def stored_file(model: Path) -> Path:
    return model / neighbours.DIRECTORY / explanations.FILE


def rewrite(model: Path, **changes: object) -> None:
    """Rewrite the model's explanations file with some of its fields changed."""
    with np.load(stored_file(model)) as stored:
        fields = {name: stored[name] for name in stored.files}
    fields.update(changes)
    buffer = io.BytesIO()
    np.savez(buffer, **fields)
    stored_file(model).write_bytes(buffer.getvalue())


def test_precomputed_answers_equal_live_ones_for_every_word_and_length(
    explained_model: Path,
) -> None:
    cached = GameStrategy(WordModel(explained_model), TINY_EXPLAINER)
    assert cached.explanations is not None
    live = Explainer(cached.tables, TINY_EXPLAINER)
    for word in cached.tables.words:
        full = live.explain(word, 100)
        assert full, word
        for n in (1, 2, 5, 100):
            assert cached.explain(word, n) == live.explain(word, n) == full[:n], (word, n)


def test_words_without_a_precomputed_list_are_explained_live(explained_model: Path) -> None:
    cached = GameStrategy(WordModel(explained_model), TINY_EXPLAINER)
    live = Explainer(cached.tables, TINY_EXPLAINER)
    for word in ("the", "zzzz", "riverside"):  # a stop word, unknown words
        assert word not in cached.tables.row
        assert cached.explain(word, 5) == live.explain(word, 5)


def test_explanations_for_other_parameters_are_ignored(
    explained_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = ExplainerParams(pool_neighbours=10, competitor_neighbours=20, reverse_max_rank=3)
    strategy = GameStrategy(WordModel(explained_model), other)
    assert strategy.explanations is None
    assert "computed for another model or explainer" in caplog.text
    live = Explainer(strategy.tables, other)
    assert [strategy.explain(w, 5) for w in ("river", "bread")] == [
        live.explain(w, 5) for w in ("river", "bread")
    ]


Changes = Callable[[int], dict[str, object]]


@pytest.mark.parametrize(
    "changes",
    [
        lambda n: {"model_version": np.str_("tiny-another-version")},
        lambda n: {"fingerprint": np.str_("0" * 64)},
        lambda n: {"hints": np.zeros((n + 1, 2), np.int32)},  # not one row per candidate
        lambda n: {"hints": np.full((n, 3), n, np.int32)},  # rows past the candidates
        lambda n: {"hints": np.zeros((n, 3), np.float32)},
    ],
    ids=["another model", "another explainer", "wrong shape", "out of range", "not rows"],
)
def test_stale_or_foreign_explanations_are_ignored(
    explained_model: Path, tmp_path: Path, changes: Changes
) -> None:
    model = tmp_path / "model"
    shutil.copytree(explained_model, model)
    candidates = len(neighbours.read_words(model / neighbours.DIRECTORY))
    rewrite(model, **changes(candidates))
    strategy = GameStrategy(WordModel(model), TINY_EXPLAINER)
    assert strategy.explanations is None
    assert strategy.explain("river", 5) == Explainer(strategy.tables, TINY_EXPLAINER).explain(
        "river", 5
    )


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04 truncated"])
def test_an_unreadable_explanations_file_is_ignored(
    explained_model: Path, tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    model = tmp_path / "model"
    shutil.copytree(explained_model, model)
    stored_file(model).write_bytes(content)
    assert GameStrategy(WordModel(model), TINY_EXPLAINER).explanations is None
    assert "is unreadable" in caplog.text


def test_the_server_answers_from_the_precomputed_lists(tiny_model: Path, tmp_path: Path) -> None:
    """Built for the server's own (default) explainer, a stored list is what Explain returns."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    explanations.build(model, workers=1)
    words = neighbours.read_words(model / neighbours.DIRECTORY)
    with np.load(stored_file(model)) as stored:
        hints = stored["hints"].copy()
    row = words.index("river")
    marked = [words.index(w) for w in ("bread", "guitar", "keyboard")]  # not river's topic
    hints[row] = -1
    hints[row, :3] = marked
    rewrite(model, hints=hints)

    with running_server(model) as server, HatClient(server.wait_listening()) as client:
        assert client.explain("river", 5) == ["bread", "guitar", "keyboard"]
        assert client.explain("river", 2) == ["bread", "guitar"]
    assert "precomputed explanations of" in server.log


def test_train_precomputes_and_lists_them_and_explanations_only_rebuilds(
    tmp_path: Path, tiny_corpus: Path, cli: Cli
) -> None:
    out = tmp_path / "model"
    small = ["--vector-size", "8", "--epochs", "1", "--workers", "1", "--n-trees", "2"]
    result = cli("train", "--corpus", str(tiny_corpus), "--out", str(out), *small)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    name = f"{neighbours.DIRECTORY}/{explanations.FILE}"
    assert name in manifest["files"]
    assert "finish" in manifest["timings_seconds"]
    assert GameStrategy(WordModel(out)).explanations is not None

    assert manifest["files"][name] == store.file_sha256(stored_file(out))

    rewrite(out, fingerprint=np.str_("stale"))
    assert GameStrategy(WordModel(out)).explanations is None
    rebuilt = cli("train", "--out", str(out), "--precompute-only", "--workers", "1")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert GameStrategy(WordModel(out)).explanations is not None
    assert not list((out / neighbours.DIRECTORY).glob(".*.tmp"))
    assert stored_file(out).stat().st_mode & 0o777 == 0o644  # a server may run as another user
    refreshed = json.loads((out / "manifest.json").read_text())
    assert refreshed["files"][name] == store.file_sha256(stored_file(out))
    assert refreshed["version"] == manifest["version"]
    for listed, digest in refreshed["files"].items():
        assert store.file_sha256(out / listed) == digest, listed

    missing = cli("train", "--out", str(tmp_path / "none"), "--precompute-only")
    assert missing.returncode == 1
    assert "not a model directory" in missing.stderr
    mixed = cli("train", "--out", str(out), "--precompute-only", "--corpus", str(tiny_corpus))
    assert mixed.returncode == 2
    assert "takes no --corpus" in mixed.stderr


def _sigint_handler_of_a_worker(model: Path) -> object:
    explanations._start_worker(model, TINY_EXPLAINER)
    return signal.getsignal(signal.SIGINT)


def test_workers_leave_ctrl_c_to_the_parent(explained_model: Path) -> None:
    """A terminal's Ctrl-C reaches every process of the group: a worker killed by it would
    fail the build (and the first-run training of ``hatbot serve``) behind the parent's back."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, context) as pool:
        handler = pool.submit(_sigint_handler_of_a_worker, explained_model).result(WAIT)
    assert handler == signal.SIG_IGN


def test_a_worker_that_dies_fails_the_build_instead_of_hanging(
    explained_model: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(explained_model, model)
    before = stored_file(model).read_bytes()
    killed: list[int] = []

    def kill_the_first_worker() -> None:
        deadline = time.monotonic() + WAIT
        while not killed and time.monotonic() < deadline:
            for child in multiprocessing.active_children():
                if child.pid is not None and "SpawnProcess" in child.name:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)
                    return
            time.sleep(0.001)

    killer = threading.Thread(target=kill_the_first_worker)
    killer.start()
    try:
        with pytest.raises(BrokenProcessPool):
            explanations.build(model, TINY_EXPLAINER, workers=1)
    finally:
        killer.join(WAIT)
    assert killed
    assert stored_file(model).read_bytes() == before, "a failed build must not touch the file"
