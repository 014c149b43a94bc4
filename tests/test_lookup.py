"""Stored answers (the lookup tables): the live answers, looked up; never stale ones."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
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
from hatbot.models import store
from hatbot.server import lookup
from hatbot.server.explainer import ExplainerParams
from hatbot.server.guesser import Guesser
from hatbot.server.model import WordModel
from hatbot.server.strategy import GameStrategy

Cli = Callable[..., subprocess.CompletedProcess[str]]
WAIT = 60.0


@pytest.fixture(scope="module")
def stored_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model with lookup tables for :data:`TINY_EXPLAINER`."""
    model = tmp_path_factory.mktemp("stored") / "tiny"
    shutil.copytree(tiny_model, model)
    lookup.build(model, TINY_EXPLAINER, workers=2)
    return model


def copy(model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model, target)
    return target


def files(model: Path) -> Path:
    return model / lookup.DIRECTORY


def strategy(model: Path) -> GameStrategy:
    return GameStrategy(WordModel(model), TINY_EXPLAINER)


def test_every_word_some_view_knows_is_stored(stored_model: Path) -> None:
    stored = strategy(stored_model)
    assert stored.lookup is not None
    assert stored.lookup.complete
    vocabulary = stored.lookup.vocabulary
    assert vocabulary[: len(stored.live.tables.words)] == stored.live.tables.words
    known = {word for model in stored.live.tables.views.values() for word in model.words}
    assert set(vocabulary) == known
    assert "the" in vocabulary  # a stop word: known to the views over every token


def test_stored_explanations_equal_live_ones_for_every_word_and_length(
    stored_model: Path,
) -> None:
    stored = strategy(stored_model)
    assert stored.lookup is not None
    live = stored.live.explainer
    for word in stored.lookup.vocabulary:
        full = live.explain(word, 100)
        for n in (1, 2, 5, 100):
            assert stored.explain(word, n) == live.explain(word, n) == full[:n], (word, n)
    assert stored.explain("zzzz", 5) == []


def test_stored_hint_scores_are_the_live_ones_to_a_quantum(stored_model: Path) -> None:
    stored = strategy(stored_model)
    assert stored.lookup is not None
    vocabulary = stored.lookup.vocabulary
    rows, known = stored.live.scores.rows(vocabulary)
    assert known.all()
    offset, step = stored.lookup.hint_scales[:, :1], stored.lookup.hint_scales[:, 1:]
    restored = offset + step * stored.lookup.hint_scores.astype(np.float32)
    assert np.all(np.abs(restored - rows) <= step * 0.51 + 1e-6)
    assert stored.lookup.scores("zzzz") is None


def test_stored_guesses_equal_live_ones(stored_model: Path) -> None:
    stored = strategy(stored_model)
    assert stored.lookup is not None
    live = stored.live
    live_guesser = Guesser(live.tables.candidates, live.scores, stored.guesser_params)
    words = stored.lookup.vocabulary
    rng = random.Random(5)
    requests = [rng.sample(words, rng.randint(1, 5)) for _ in range(300)]
    same = 0
    for hints in requests:
        for criteria in ("soft", "hard"):
            answer = stored.guess(hints, 5, criteria)
            assert answer, hints
            same += answer == live_guesser.guess(hints, 5, criteria)
    assert same / (2 * len(requests)) >= 0.98


def test_a_hint_list_is_computed_once(stored_model: Path) -> None:
    """The candidates' inflection groups and counts come from the store, not the views."""
    stored = strategy(stored_model)
    assert stored.lookup is not None
    stored.explain("river", 5)
    stored.guess(["lake", "boat"], 5)
    assert not stored.live_loaded, "a complete lookup needs no live tables"


def test_tables_for_other_parameters_are_ignored(
    stored_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = ExplainerParams(pool_neighbours=10, competitor_neighbours=20, reverse_max_rank=3)
    found = GameStrategy(WordModel(stored_model), other)
    assert found.lookup is None
    assert "computed for another model version or code" in caplog.text
    assert found.explain("river", 5) == found.live.explainer.explain("river", 5)


Change = Callable[[Path], None]


def _meta(directory: Path, **changes: object) -> None:
    meta = json.loads((directory / lookup.META).read_text())
    (directory / lookup.META).write_text(json.dumps({**meta, **changes}))


def _array(name: str, value: Callable[[np.ndarray], np.ndarray]) -> Change:
    def change(directory: Path) -> None:
        array = np.load(directory / name)
        with (directory / name).open("wb") as handle:
            np.save(handle, value(array))

    return change


@pytest.mark.parametrize(
    "change",
    [
        lambda d: _meta(d, model_version="tiny-another-version"),
        lambda d: _meta(d, fingerprint="0" * 64),
        _array(lookup.EXPLANATIONS, lambda a: a[:-1]),  # not one row per word
        _array(lookup.EXPLANATIONS, lambda a: np.full_like(a, 10**6)),  # past the candidates
        _array(lookup.EXPLANATIONS, lambda a: a.astype(np.float32)),
        _array(lookup.HINT_SCORES, lambda a: a[:, :-1]),
        _array(lookup.HINT_SCALES, lambda a: a[:-1]),
        lambda d: (d / lookup.VOCABULARY).write_text("river\n"),
        lambda d: (d / lookup.HINT_SCORES).write_bytes(b""),
        lambda d: (d / lookup.CANDIDATES).write_bytes(b"PK\x03\x04 truncated"),
        lambda d: (d / lookup.META).write_text("{not json"),
        lambda d: (d / lookup.EXPLANATIONS).unlink(),
    ],
    ids=[
        "another model",
        "another code",
        "rows",
        "out of range",
        "not rows",
        "scores shape",
        "scales",
        "vocabulary",
        "empty scores",
        "truncated candidates",
        "garbled meta",
        "missing file",
    ],
)
def test_stale_foreign_or_broken_tables_are_ignored(
    stored_model: Path, tmp_path: Path, change: Change
) -> None:
    model = copy(stored_model, tmp_path)
    change(files(model))
    found = strategy(model)
    assert found.lookup is None
    assert found.explain("river", 5) == found.live.explainer.explain("river", 5)
    assert found.guess(["lake"], 5)


def test_the_server_answers_from_the_stored_tables(tiny_model: Path, tmp_path: Path) -> None:
    """Built for the server's own (default) parameters, a stored list is what Explain says."""
    model = copy(tiny_model, tmp_path)
    directory = files(model)
    vocabulary = (directory / lookup.VOCABULARY).read_text().split()
    hints = np.load(directory / lookup.EXPLANATIONS)
    hints[vocabulary.index("river")] = -1
    hints[vocabulary.index("river"), :3] = [
        vocabulary.index(w) for w in ("bread", "guitar", "oven")
    ]
    with (directory / lookup.EXPLANATIONS).open("wb") as handle:
        np.save(handle, hints)

    with running_server(model) as server, HatClient(server.wait_listening()) as client:
        assert client.explain("river", 5) == ["bread", "guitar", "oven"]
        assert client.explain("river", 2) == ["bread", "guitar"]
    assert "precomputed answers for" in server.log


def test_train_stores_and_lists_them_and_precompute_only_rebuilds(
    tmp_path: Path, tiny_corpus: Path, cli: Cli
) -> None:
    out = tmp_path / "model"
    small = ["--vector-size", "8", "--epochs", "1", "--workers", "1", "--n-trees", "2"]
    result = cli("train", "--corpus", str(tiny_corpus), "--out", str(out), *small)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    names = [f"{lookup.DIRECTORY}/{name}" for name in lookup.FILES]
    assert set(names) <= set(manifest["files"])
    assert "finish" in manifest["timings_seconds"]
    assert GameStrategy(WordModel(out)).lookup is not None

    _meta(files(out), fingerprint="stale")
    assert GameStrategy(WordModel(out)).lookup is None
    rebuilt = cli("train", "--out", str(out), "--precompute-only", "--workers", "1")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert GameStrategy(WordModel(out)).lookup is not None
    assert not list(files(out).glob(".*.tmp"))
    for name in names:  # a server may run as another user
        assert (out / name).stat().st_mode & 0o777 == 0o644, name
    refreshed = json.loads((out / "manifest.json").read_text())
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
    lookup._start_worker(model, TINY_EXPLAINER)
    return signal.getsignal(signal.SIGINT)


def test_workers_leave_ctrl_c_to_the_parent(stored_model: Path) -> None:
    """A terminal's Ctrl-C reaches every process of the group: a worker killed by it would
    fail the build (and the first-run training of ``hatbot serve``) behind the parent's back."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, context) as pool:
        handler = pool.submit(_sigint_handler_of_a_worker, stored_model).result(WAIT)
    assert handler == signal.SIG_IGN


def test_a_worker_that_dies_fails_the_build_instead_of_hanging(
    stored_model: Path, tmp_path: Path
) -> None:
    model = copy(stored_model, tmp_path)
    before = {name: (files(model) / name).read_bytes() for name in lookup.FILES}
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
            lookup.build(model, TINY_EXPLAINER, workers=1)
    finally:
        killer.join(WAIT)
    assert killed
    after = {name: (files(model) / name).read_bytes() for name in lookup.FILES}
    assert after == before, "a failed build must not touch the stored files"
