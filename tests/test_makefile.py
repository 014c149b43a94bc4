"""``make serve CORPUS=...``: train a model from that corpus when there is none, then serve it.

The Makefile runs this interpreter's ``hatbot`` (``BIN``) and takes the install as done
(``INSTALLED``, a fresh file), so a test never reinstalls the virtualenv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hatbot.client import HatClient, HatError

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SMALL = "--single-view --vector-size 8 --epochs 1 --workers 1 --n-trees 2"


@pytest.fixture
def make(tmp_path: Path) -> list[str]:
    """The ``make`` command line, with BIN and INSTALLED pointing at this test's install."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed (apt-get install make)")
    installed = tmp_path / "installed"
    installed.touch()  # newer than setup.cfg: nothing to install
    return ["make", "-C", str(ROOT), f"BIN={BIN}", f"INSTALLED={installed}"]


def commands(make: list[str], *args: str) -> list[str]:
    """The hatbot command lines ``make -n ARGS`` would run, in order."""
    result = subprocess.run(
        [*make, "-n", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return [line.split(f"{BIN}/", 1)[1] for line in result.stdout.splitlines() if str(BIN) in line]


def test_without_corpus_it_serves_the_default_model(make: list[str]) -> None:
    assert commands(make, "serve") == ["hatbot serve --host 127.0.0.1 --port 50051"]


def test_a_corpus_is_trained_into_var_models_then_served(make: list[str]) -> None:
    corpus = "../shared/corpora/makeprobe-bydate.tar.gz"  # a name no checkout trained yet
    assert [c.rstrip() for c in commands(make, "serve", f"CORPUS={corpus}", "PORT=6000")] == [
        f"hatbot train --corpus {corpus} --out var/models/makeprobe --name makeprobe",
        "hatbot serve --host 127.0.0.1 --port 6000 --model var/models/makeprobe",
    ]
    texts = commands(make, "serve", "CORPUS=some/texts/")
    assert (
        texts[0].rstrip() == "hatbot train --corpus some/texts/ --out var/models/texts --name texts"
    )


def test_a_model_already_trained_is_only_served(
    make: list[str], tmp_path: Path, tiny_model: Path
) -> None:
    model = tmp_path / "trained"
    shutil.copytree(tiny_model, model)
    assert commands(make, "serve", "CORPUS=corpus.txt", f"MODEL={model}") == [
        f"hatbot serve --host 127.0.0.1 --port 50051 --model {model}"
    ]


def test_make_serve_trains_from_the_corpus_and_serves_it(
    make: list[str], tmp_path: Path, tiny_corpus: Path
) -> None:
    model = tmp_path / "models" / "tiny"
    args = [f"CORPUS={tiny_corpus}", f"MODEL={model}", f"TRAIN_ARGS={SMALL}", "PORT=0"]
    proc = subprocess.Popen(
        [*make, "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # make and its children, stopped together below
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        address = _serving_address(lines, proc)
        with HatClient(address, timeout=5.0) as hat:
            info = hat.model_info()
        manifest = json.loads((model / "manifest.json").read_text())
        assert info.version == manifest["version"]
        assert info.name == "corpus", "named after the corpus file"
        assert manifest["corpus"]["paths"] == [str(tiny_corpus)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        reader.join(10)
    assert any("train stage 1/" in line for line in lines), "".join(lines)


def _serving_address(lines: list[str], proc: subprocess.Popen[str]) -> str:
    """The address of the server ``make`` started, once it answers SERVING."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"make exited {proc.returncode}:\n{''.join(lines)}"
        found = [
            line.rsplit("listening on ", 1)[1].split()[0]
            for line in lines
            if "listening on" in line
        ]
        if found:
            try:
                with HatClient(found[0], timeout=1.0) as hat:
                    if hat.health() == "SERVING":
                        return found[0]
            except HatError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"no SERVING server within 120 s:\n{''.join(lines)}")
