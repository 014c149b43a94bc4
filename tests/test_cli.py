"""The ``hatbot`` command against the session server, and its failures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hatbot import rules

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "hatbot"
    assert script.exists(), f"no console script next to {sys.executable}"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for command in ("train", "serve", "explain", "guess", "info", "health"):
        assert command in result.stdout


def test_explain_prints_hints(hat_server: str, cli: Cli) -> None:
    result = cli("explain", "--addr", hat_server, "-n", "4", "River")
    assert result.returncode == 0, result.stderr
    hints = result.stdout.split()
    assert 0 < len(hints) <= 4
    assert all(rules.is_legal_hint("river", hint) for hint in hints), hints


def test_guess_prints_guesses(hat_server: str, cli: Cli) -> None:
    result = cli("guess", "--addr", hat_server, "-n", "3", "guitar", "piano")
    assert result.returncode == 0, result.stderr
    guesses = result.stdout.split()
    assert 0 < len(guesses) <= 3
    assert not {"guitar", "piano"} & set(guesses)


def test_info_prints_the_model(hat_server: str, cli: Cli, tiny_manifest: dict[str, Any]) -> None:
    result = cli("info", "--addr", hat_server)
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert fields["version"] == tiny_manifest["version"]
    assert fields["vocabulary_size"] == str(tiny_manifest["vocabulary_size"])
    assert fields["corpus_sha256"] == tiny_manifest["corpus"]["sha256"]
    assert fields["strategy"] == "default"


def test_bad_request_exits_1_with_the_servers_reason(hat_server: str, cli: Cli) -> None:
    result = cli("explain", "--addr", hat_server, "ab1")
    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr
    assert "word" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_a_model_fails_clearly(tmp_path: Path, cli: Cli) -> None:
    missing = tmp_path / "nonexistent"
    result = cli("serve", "--model", str(missing), "--port", "0")
    assert result.returncode != 0
    assert "not a model directory" in result.stderr
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_a_model_without_strategy_tables_fails_clearly(
    tiny_model: Path, tmp_path: Path, cli: Cli
) -> None:
    old = tmp_path / "old"
    shutil.copytree(tiny_model, old)
    shutil.rmtree(old / "strategy")
    result = cli("serve", "--model", str(old), "--port", "0")
    assert result.returncode == 1
    assert "no neighbour tables" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_with_a_bad_corpus_path_fails_clearly(tmp_path: Path, cli: Cli) -> None:
    missing, out = tmp_path / "no-such-corpus.tar.gz", tmp_path / "model"
    result = cli("train", "--corpus", str(missing), "--out", str(out))
    assert result.returncode == 1
    reasons = [line for line in result.stderr.splitlines() if line.startswith("hatbot train: ")]
    assert len(reasons) == 1, result.stderr
    assert str(missing) in reasons[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_train_publishes_a_model(tmp_path: Path, tiny_corpus: Path, cli: Cli) -> None:
    out = tmp_path / "model"
    args = ["train", "--corpus", str(tiny_corpus), "--out", str(out), "--name", "cli"]
    small = ["--vector-size", "8", "--epochs", "1", "--workers", "1", "--n-trees", "2"]
    result = cli(*args, *small)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] in result.stdout
    assert manifest["vector_size"] == 8
    assert manifest["annoy"]["n_trees"] == 2

    again = cli(*args, *small)
    assert again.returncode == 1
    assert "exists" in again.stderr
    assert "Traceback" not in again.stderr
    replaced = cli(*args, *small, "--force")
    assert replaced.returncode == 0, replaced.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "-n", "0", "river"],
        ["guess", "--timeout", "0", "river"],
        ["train", "--vector-size", "-3"],
    ],
)
def test_argument_errors_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
