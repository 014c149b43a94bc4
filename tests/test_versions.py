"""Versioned model roots: the newest complete version is served; new ones replace it live."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from conftest import train_tiny
from scrape import metric
from test_workers import wait_until

from hatbot.server import versions
from hatbot.v1 import hatbot_pb2, hatbot_pb2_grpc

if TYPE_CHECKING:
    from conftest import StartServer

    from hatbot.server.process import ServerProcess

WAIT = 60.0


@pytest.fixture(scope="module")
def second_model(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tiny model (another seed, so another version), with its lookup tables."""
    return train_tiny(tiny_corpus, tmp_path_factory.mktemp("second") / "tiny", seed=2)


def version_of(model: Path) -> str:
    return str(json.loads((model / "manifest.json").read_text())["version"])


def served_version(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        stub = hatbot_pb2_grpc.HatServiceStub(channel)
        return stub.Explain(
            hatbot_pb2.ExplainRequest(word="river", n_words=2), timeout=10
        ).model_version


def root_with(tmp_path: Path, **versions_: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    for number, model in versions_.items():
        shutil.copytree(model, root / number.lstrip("v"))
    return root


def start(server_factory: StartServer, root: Path, *extra: str) -> ServerProcess:
    return server_factory(None, "--model-root", str(root), "--metrics-port", "0", *extra)


def test_the_newest_complete_version_is_served(
    tiny_model: Path, second_model: Path, tmp_path: Path, server_factory: StartServer
) -> None:
    root = root_with(tmp_path, v2=tiny_model, v10=second_model)
    (root / "11").mkdir()  # no manifest yet: being copied
    (root / "12x").mkdir()
    shutil.copytree(tiny_model, root / ".13.staging-abc")
    assert versions.newest(root) == root / "10"
    server = start(server_factory, root, "--workers", "2")
    assert served_version(server.wait_serving()) == version_of(second_model)


def test_an_empty_root_is_refused(tmp_path: Path, server_factory: StartServer) -> None:
    (tmp_path / "root").mkdir()
    server = start(server_factory, tmp_path / "root")
    assert server.proc.wait(WAIT) == 1
    server.kill()
    assert "no complete model version under" in server.log


@pytest.mark.parametrize("trigger", ["sighup", "poll"])
def test_a_new_version_replaces_the_served_one(
    tiny_model: Path,
    second_model: Path,
    tmp_path: Path,
    server_factory: StartServer,
    trigger: str,
) -> None:
    root = root_with(tmp_path, v1=tiny_model)
    extra = ["--poll", "0.2"] if trigger == "poll" else []
    server = start(server_factory, root, "--workers", "2", *extra)
    address = server.wait_serving()
    assert served_version(address) == version_of(tiny_model)
    shutil.copytree(second_model, root / "2")
    if trigger == "sighup":
        server.proc.send_signal(signal.SIGHUP)
    new = version_of(second_model)
    wait_until(lambda: f"serving model {new}" in server.log, "the new version", server)
    assert all(served_version(address) == new for _ in range(20))
    assert metric(server, "hatbot_reloads_total", outcome="loaded") == 1
    assert metric(server, "hatbot_model_info", version=new) == 2  # both workers
    assert metric(server, "hatbot_model_info", version=version_of(tiny_model)) == 0
    assert server.terminate() == 0, server.log


def _flip_a_byte(model: Path) -> None:
    path = model / "strategy" / "main.vectors.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_a_file(model: Path) -> None:
    (model / "index.ann").unlink()


def _future_format(model: Path) -> None:
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_flip_a_byte, "strategy/main.vectors.npy: SHA-256 differs from the manifest's"),
        (_drop_a_file, "index.ann: No such file or directory"),
        (_future_format, "unsupported model format_version 99"),
    ],
    ids=["corrupt", "partial", "incompatible"],
)
def test_a_bad_version_is_refused_and_the_old_one_keeps_serving(
    tiny_model: Path,
    second_model: Path,
    tmp_path: Path,
    server_factory: StartServer,
    spoil: object,
    reason: str,
) -> None:
    root = root_with(tmp_path, v1=tiny_model)
    server = start(server_factory, root, "--workers", "1", "--poll", "0.2")
    address = server.wait_serving()
    shutil.copytree(second_model, root / "2")
    spoil(root / "2")  # type: ignore[operator]
    wait_until(lambda: "refused model version" in server.log, "the refusal", server)
    time.sleep(1.0)  # several polls: the same version is not tried again
    refusals = [line for line in server.log.splitlines() if "refused model version" in line]
    assert len(refusals) == 1, refusals
    assert reason in refusals[0]
    assert served_version(address) == version_of(tiny_model)
    assert metric(server, "hatbot_reloads_total", outcome="refused") == 1
    assert server.terminate() == 0, server.log


def test_a_model_update_under_load_fails_no_call(
    tiny_model: Path, second_model: Path, tmp_path: Path, server_factory: StartServer
) -> None:
    """Chaos (c): calls in flight finish on the old version; the answers switch version."""
    root = root_with(tmp_path, v1=tiny_model)
    server = start(server_factory, root, "--workers", "2")
    address = server.wait_serving()
    seen: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with grpc.insecure_channel(address) as channel:
            guess = hatbot_pb2_grpc.HatServiceStub(channel).Guess
            for _ in range(20_000):  # bounded; stops early once told
                if stop.is_set():
                    return
                try:
                    answer = guess(hatbot_pb2.GuessRequest(words=["lake"], n_words=3), timeout=1)
                    seen[answer.model_version] += 1
                except grpc.RpcError as error:
                    failures.append(f"{error.code().name}: {error.details()}")

    callers = [threading.Thread(target=load) for _ in range(4)]
    for caller in callers:
        caller.start()
    try:
        time.sleep(0.5)
        shutil.copytree(second_model, root / "2")
        server.proc.send_signal(signal.SIGHUP)
        new = version_of(second_model)
        wait_until(lambda: f"serving model {new}" in server.log, "the new version", server)
        time.sleep(0.5)
    finally:
        stop.set()
        for caller in callers:
            caller.join(WAIT)
    assert failures == []
    assert seen[version_of(tiny_model)] > 0
    assert seen[new] > 0, seen
    print(f"model update under load: {sum(seen.values())} calls, 0 failed, versions {dict(seen)}")
